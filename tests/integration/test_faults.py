"""Things die for real, and nothing accepted is lost: each scenario kills or stops a real process mid-stream.

The stack here has two workers and a short visibility timeout (20 s), so a message held by a dead worker comes
back within the test's time. Each scenario prints a row: scenario, requests, done, failed, lost, duplicated, time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.test import override_settings

from classifier.models import Classification, Status
from stack.local import LocalStack
from tests.conftest import IMAGES_DIR
from tests.integration.conftest import manage, start_stack
from tests.integration.test_runstack import alive, children_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VISIBILITY = 20
FAULT_ENV = {
    "SQS_VISIBILITY_TIMEOUT": str(VISIBILITY),
    "TASK_TIME_LIMIT": "15",
    "TASK_SOFT_TIME_LIMIT": "10",
    "STARTED_NOTICE_SECONDS": "0",
    "SWEEP_INTERVAL": "3600",
}


@pytest.fixture(scope="module")
def fault_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LocalStack]:
    with override_settings(SQS_VISIBILITY_TIMEOUT=VISIBILITY):  # the queues are created with it
        running = start_stack(tmp_path_factory.mktemp("fault-logs"), workers=2, extra_env=FAULT_ENV)
    stray: set[int] = set()
    running.stray_pids = stray  # type: ignore[attr-defined]
    yield running
    running.stop()
    for pid in stray:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


async def _submit(url: str, paths: list[Path]) -> list[str]:
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(client.post(url, files={"file": (p.name, p.read_bytes(), "image/jpeg")}) for p in paths)
        )
    assert [r.status_code for r in responses] == [202] * len(paths)
    return [r.json()["id"] for r in responses]


def _wait_finished(ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Classification.objects.filter(pk__in=ids, status__in=(Status.DONE, Status.FAILED)).count() == len(ids):
            return
        time.sleep(0.25)


def _report(scenario: str, ids: list[str], started: float) -> dict[str, int]:
    rows = list(Classification.objects.filter(pk__in=ids))
    counts = {
        "requests": len(ids),
        "done": sum(row.status == Status.DONE for row in rows),
        "failed": sum(row.status == Status.FAILED for row in rows),
        "lost": len(ids) - sum(row.status in (Status.DONE, Status.FAILED) for row in rows),
        "duplicated": sum(row.result_deliveries > 1 for row in rows),  # redelivered results, ignored by recording
    }
    print(f"\n| {scenario} | {' | '.join(str(v) for v in counts.values())} | {time.monotonic() - started:.0f} s |")
    return counts


def _images(count: int) -> list[Path]:
    paths = sorted(IMAGES_DIR.glob("*.JPEG"))
    return [paths[i % len(paths)] for i in range(count)]


def _wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition(), "timed out"


def _wait_until_busy(worker: str) -> None:
    _wait_until(lambda: Classification.objects.filter(status=Status.RUNNING, worker__startswith=f"{worker}@").exists(),
                30)  # fmt: skip


def test_sigkill_a_worker_mid_task(fault_stack) -> None:
    started = time.monotonic()
    ids = asyncio.run(_submit(fault_stack.web_url + "/api/classifications", _images(60)))
    victim = fault_stack.process("worker-1")
    _wait_until_busy("worker-1")
    fault_stack.stray_pids |= children_of(victim.pid)  # its pool child, orphaned by the kill
    os.kill(victim.pid, signal.SIGKILL)
    _wait_finished(ids, VISIBILITY + 90)
    counts = _report("SIGKILL a worker mid-task", ids, started)
    assert (counts["done"], counts["lost"]) == (60, 0)
    fault_stack.respawn("worker-1")


def test_sigkill_a_pool_child_redelivers_its_task(fault_stack) -> None:
    started = time.monotonic()
    ids = asyncio.run(_submit(fault_stack.web_url + "/api/classifications", _images(30)))
    worker = fault_stack.process("worker-2")
    _wait_until_busy("worker-2")
    children = children_of(worker.pid)
    assert children, "no pool child to kill"
    for pid in children:
        os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
    _wait_finished(ids, VISIBILITY + 90)
    counts = _report("SIGKILL a pool child", ids, started)
    assert (counts["done"], counts["lost"]) == (30, 0)
    assert worker.exit_code() is None  # the worker replaced its child and carried on


def test_results_consumer_down_for_20_seconds(fault_stack) -> None:
    started = time.monotonic()
    consumer = fault_stack.process("results-consumer")
    consumer.stop()
    ids = asyncio.run(_submit(fault_stack.web_url + "/api/classifications", _images(30)))
    time.sleep(20)
    assert not Classification.objects.filter(pk__in=ids, status=Status.DONE).exists()  # nobody records meanwhile
    fault_stack.respawn("results-consumer")
    _wait_finished(ids, 90)
    counts = _report("results consumer down 20 s", ids, started)
    assert (counts["done"], counts["lost"]) == (30, 0)


@pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"), reason="locks the SQLite file")
def test_database_unavailable_answers_503_and_keeps_nothing_half_written(fault_stack) -> None:
    started = time.monotonic()
    from django.db import connection

    before = Classification.objects.count()
    blocker = sqlite3.connect(connection.settings_dict["NAME"], timeout=1)
    blocker.execute("BEGIN EXCLUSIVE")  # every writer now waits, then gives up
    try:
        with (IMAGES_DIR / "test_2.JPEG").open("rb") as handle:
            response = httpx.post(fault_stack.web_url + "/", files={"myfile": handle}, timeout=120)
    finally:
        blocker.rollback()
        blocker.close()
    assert response.status_code == 503
    assert "database unavailable" in response.text
    assert Classification.objects.count() == before
    print(f"\n| database locked | 1 | 0 | 0 | 0 | 0 | {time.monotonic() - started:.0f} s |  (answered 503)")
    with (IMAGES_DIR / "test_2.JPEG").open("rb") as handle:
        assert httpx.post(fault_stack.web_url + "/", files={"myfile": handle}, timeout=120).text == "monarch butterfly"


@pytest.mark.skipif(settings.STORAGE_BACKEND == "s3", reason="the embedded S3 keeps no images across a restart either")
def test_endpoint_restart_with_requests_queued_is_recovered_by_the_sweeper(fault_stack) -> None:
    started = time.monotonic()
    for name in ("worker-1", "worker-2"):
        fault_stack.process(name).stop()  # nobody takes the messages: they wait in the queue
    ids = asyncio.run(_submit(fault_stack.web_url + "/api/classifications", _images(20)))
    fault_stack.restart_endpoint()  # the queues come back empty: 20 accepted requests now exist only as rows
    for name in ("worker-1", "worker-2"):
        fault_stack.respawn(name)
    swept = manage(fault_stack, "sweep", "--once", "--after", "0")
    assert swept.returncode == 0, swept.stderr
    assert "re-sent 20" in swept.stdout
    _wait_finished(ids, 120)
    counts = _report("embedded endpoint restarted, sweeper re-sends", ids, started)
    assert (counts["done"], counts["lost"]) == (20, 0)
