"""`manage.py loadtest` against the running stack, as an operator would point it at a deployment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import IMAGES_DIR, ROOT

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def loadtest(stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "loadtest", "--url", stack.web_url, "--images", str(IMAGES_DIR), *args],
        cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("protocol", ["myfile", "inputFile", "api"])
def test_all_requests_succeed_and_the_table_is_printed(stack, protocol: str) -> None:
    result = loadtest(stack, "--requests", "20", "--concurrency", "10", "--protocol", protocol)
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("requests      20", "successes     20", "HTTP errors   0", "latency p95", "throughput"):
        assert line in result.stdout


def test_wrong_labels_fail_the_run(stack, tmp_path) -> None:
    expected = tmp_path / "expected.csv"
    expected.write_text("test_2.JPEG,monarch butterfly\ntest_10.JPEG,not guacamole\n")
    result = loadtest(stack, "--requests", "3", "--concurrency", "3", "--expected", str(expected))
    assert result.returncode == 1
    assert "wrong labels  1" in result.stdout
    assert "1 wrong label(s)" in result.stderr


def test_bad_arguments_are_clear(stack, tmp_path) -> None:
    result = loadtest(stack, "--images", str(tmp_path))
    assert result.returncode == 1 and "no images in" in result.stderr and "Traceback" not in result.stderr
