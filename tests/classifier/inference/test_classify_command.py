"""`manage.py classify`: the bare model's answers as CSV, the reference a load test checks a deployment against."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import IMAGES_DIR

pytestmark = pytest.mark.model


def test_prints_name_and_label_per_image(tmp_path) -> None:
    out = io.StringIO()
    call_command("classify", str(IMAGES_DIR / "test_2.JPEG"), str(IMAGES_DIR / "test_10.JPEG"), stdout=out)
    assert out.getvalue().splitlines() == ["test_2.JPEG,monarch butterfly", "test_10.JPEG,guacamole"]


def test_a_folder_gives_every_image_and_bad_files_fail_the_run(tmp_path) -> None:
    out = io.StringIO()
    call_command("classify", str(IMAGES_DIR), stdout=out)
    assert len(out.getvalue().splitlines()) == 100
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(CommandError, match="1 of 1 file"):
        call_command("classify", str(tmp_path), stdout=io.StringIO(), stderr=io.StringIO())
