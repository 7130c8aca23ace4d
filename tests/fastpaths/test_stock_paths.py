"""FAST_PATHS=off runs each library's stock path, and on runs each fast path: read in a fresh interpreter, as a
process of the service sees it at start-up (the web tier's ASGI application, a worker's Celery app and transport,
the storages, the hot SQS client, the local endpoint's server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.core.files.storage import storages
import project.asgi
from project.celery import app
from fastpaths.botocore_sqs import sqs_client
from stack.embedded import LOCAL_CREDENTIALS
steps = [type(step).__name__ if not isinstance(step, type) else step.__name__ for step in app.steps["consumer"]]
print(json.dumps({
    "asgi": type(project.asgi.django_application).__module__,
    "middleware": [path for path in settings.MIDDLEWARE if "WhiteNoise" in path],
    "transport": app.connection_for_write().transport_cls,
    "tasks_delete": settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("tasks_delete"),
    "steps": steps,
    "inputs": type(storages["inputs"]).__module__,
    "sqs": type(sqs_client("http://127.0.0.1:1", LOCAL_CREDENTIALS)).__module__,
}))
"""


def _seen(fast_paths: str) -> dict[str, object]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SERVICE_MODE"))}
    env |= {"DJANGO_SETTINGS_MODULE": "project.settings", "FAST_PATHS": fast_paths, "STORAGE_BACKEND": "s3"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return seen


def test_off_runs_every_library_s_stock_path() -> None:
    seen = _seen("off")
    assert seen["asgi"] == "django.core.handlers.asgi"
    assert seen["middleware"] == ["whitenoise.middleware.WhiteNoiseMiddleware"]
    assert seen["transport"] == "sqs" and seen["tasks_delete"] is None  # kombu's own, which deletes on acknowledgement
    assert "HandOverClassifyReceives" not in seen["steps"]  # Celery's own request execution
    assert seen["inputs"] == "storages.backends.s3"
    assert seen["sqs"] == "botocore.client"


def test_on_runs_each_fast_path() -> None:
    seen = _seen("on")
    assert seen["asgi"] == "fastpaths.django_asgi"
    assert seen["middleware"] == ["fastpaths.whitenoise_middleware.AsyncWhiteNoiseMiddleware"]
    assert seen["transport"] == "fastpaths.kombu_sqs:SynchronousSQSTransport" and seen["tasks_delete"] == ["classify"]
    assert "HandOverClassifyReceives" in seen["steps"]
    assert seen["inputs"] == "fastpaths.django_storages"
    assert seen["sqs"] == "fastpaths.botocore_sqs"


def test_each_fast_path_has_its_own_switch() -> None:
    seen = _seen("kombu_sqs,django_storages")
    assert seen["transport"] == "fastpaths.kombu_sqs:SynchronousSQSTransport" and seen["tasks_delete"] == ["classify"]
    assert seen["inputs"] == "fastpaths.django_storages"
    assert seen["asgi"] == "django.core.handlers.asgi" and seen["sqs"] == "botocore.client"
    assert "HandOverClassifyReceives" not in seen["steps"]


def test_the_pool_hand_over_needs_the_synchronous_transport() -> None:
    """Under kombu's own transport Celery's event loop owns the pool: the hand-over's threads must not touch it."""
    assert "HandOverClassifyReceives" not in _seen("celery_pool")["steps"]
    assert "HandOverClassifyReceives" in _seen("celery_pool,kombu_sqs")["steps"]


def test_a_fast_path_that_does_not_exist_is_refused_at_start() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SERVICE_MODE"))}
    env |= {"DJANGO_SETTINGS_MODULE": "project.settings", "FAST_PATHS": "kombu_sqs,warp_drive"}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode != 0 and "FAST_PATHS must be on, off, or a comma-separated list of" in result.stderr


def test_with_celery_messages_off_the_web_tier_publishes_through_celery(settings, monkeypatch) -> None:
    from types import SimpleNamespace

    from classifier import dispatch

    settings.FAST_PATHS = frozenset(settings.FAST_PATH_NAMES) - {"celery_messages"}
    published: list[str] = []
    monkeypatch.setattr(dispatch, "send_for_classification", lambda row: published.append(row.id))
    monkeypatch.setattr(dispatch, "sqs_client", lambda: pytest.fail("the batched send was used"))
    rows = [SimpleNamespace(id=f"r{n}", original_name="a.JPEG") for n in range(3)]
    dispatch._ClassifyQueue().send(rows)  # type: ignore[arg-type]
    assert published == ["r0", "r1", "r2"]


@pytest.mark.parametrize(("fast_paths", "server"), [("on", "stack.endpoint"), ("off", "moto.server")])
def test_the_local_endpoint_is_moto_s_own_server_with_fast_paths_off(
    fast_paths: str, server: str, settings, monkeypatch
) -> None:
    from stack import embedded

    started: list[list[str]] = []

    class Started(Exception):
        pass

    class Process:
        def __init__(self, name: str, argv: list[str], **_: object) -> None:
            started.append(argv)

        def start(self) -> Process:
            raise Started

    settings.FAST_PATHS = frozenset(settings.FAST_PATH_NAMES) if fast_paths == "on" else frozenset()
    monkeypatch.setattr(embedded, "ManagedProcess", Process)
    with pytest.raises(Started):
        embedded.start_endpoint(port=1)
    assert started[0][1:3] == ["-m", server]
