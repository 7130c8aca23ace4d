"""Two hundred synchronous callers at once: each waits for its own label, none holds a thread on the server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from classifier.inference.model import ImageClassifier
from classifier.models import Classification, Status
from tests.conftest import IMAGES_DIR

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CALLERS = 200


async def _post_all(url: str, paths: list[Path], field: str = "myfile") -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CALLERS, max_keepalive_connections=CALLERS)
    async with httpx.AsyncClient(timeout=180, limits=limits) as client:
        return await asyncio.gather(
            *(client.post(url, files={field: (path.name, path.read_bytes(), "image/jpeg")}) for path in paths)
        )


def _models_labels(paths: list[Path]) -> dict[str, str]:
    model = ImageClassifier("tf_efficientnet_lite0")
    return {path.name: model.classify(path.read_bytes()).best.label for path in paths}


def test_200_concurrent_cse546_callers_each_get_the_models_label(stack) -> None:
    paths = sorted(IMAGES_DIR.glob("*.JPEG")) * 2
    assert len(paths) == CALLERS
    expected = _models_labels(paths[:100])

    responses = asyncio.run(_post_all(stack.web_url + "/", paths))

    assert [response.status_code for response in responses] == [200] * CALLERS
    assert [response.text for response in responses] == [expected[path.name] for path in paths]
    assert Classification.objects.filter(status=Status.DONE).count() == CALLERS
    assert not Classification.objects.filter(result_deliveries__gt=1).exists()


def test_100_concurrent_2024_generator_callers_get_name_and_label(stack) -> None:
    paths = sorted(IMAGES_DIR.glob("*.JPEG"))
    expected = _models_labels(paths)

    responses = asyncio.run(_post_all(stack.web_url + "/", paths, field="inputFile"))

    assert [response.status_code for response in responses] == [200] * len(paths)
    assert [response.text for response in responses] == [f"{path.stem}:{expected[path.name]}" for path in paths]
    assert Classification.objects.filter(status=Status.DONE).count() == len(paths)
