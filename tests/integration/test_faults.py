"""Things die for real, and nothing accepted is lost: each scenario kills or stops a real process mid-stream.

The stack here has two workers and the shipped timeouts: a message held by a worker that died is visible again
within SQS_VISIBILITY_TIMEOUT (10 s), one held by a pool process that died at once. Each scenario prints a row:
scenario, requests, done, failed, lost, duplicated, time.
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

from autoscale.worker_command import worker_argv
from classifier.models import Classification, Status
from common import aws
from stack.local import LocalStack, web_argv
from stack.processes import ManagedProcess, free_port, wait_for_port
from stack.tcp_proxy import TcpProxy
from tests.conftest import IMAGES_DIR
from tests.integration.conftest import (
    ON_POSTGRESQL,
    database_url,
    first_pass_only,
    manage,
    start_stack,
    stored_inputs,
)
from tests.integration.poison import POISON
from tests.integration.test_runstack import alive, children_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VISIBILITY = settings.SQS_VISIBILITY_TIMEOUT
# Started notices at once, so a test sees which worker is busy; the sweeper out of the way (the tests run it).
FAULT_ENV = {"STARTED_NOTICE_SECONDS": "0", "SWEEP_INTERVAL": "3600"}


@pytest.fixture(scope="module")
def fault_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LocalStack]:
    running = start_stack(tmp_path_factory.mktemp("fault-logs"), workers=2, extra_env=FAULT_ENV)
    stray: set[int] = set()
    running.stray_pids = stray  # type: ignore[attr-defined]
    yield running
    running.stop()
    for pid in stray:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def _restart_what_a_scenario_left_down(fault_stack) -> Iterator[None]:
    """A scenario that fails midway may leave a worker or the consumer stopped; the next one starts whole."""
    yield
    for name in ("worker-1", "worker-2", "results-consumer"):
        if fault_stack.process(name).exit_code() is not None:
            fault_stack.respawn(name)


async def _submit(url: str, paths: list[Path]) -> list[str]:
    return await _submit_named(url, [(p.name, p.read_bytes()) for p in paths])


async def _submit_named(url: str, files: list[tuple[str, bytes]]) -> list[str]:
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(client.post(url, files={"file": (name, data, "image/jpeg")}) for name, data in files)
        )
    assert [r.status_code for r in responses] == [202] * len(files)
    return [_request_id(r.json()) for r in responses]


def _request_id(body: dict) -> str:
    """One image's request id: a submission lists its requests under "results" (a bare "id" before that)."""
    return str(body["results"][0]["id"] if "results" in body else body["id"])


def _all_finished(ids: list[str]) -> bool:
    return Classification.objects.filter(pk__in=ids, status__in=(Status.DONE, Status.FAILED)).count() == len(ids)


def _wait_finished(ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _all_finished(ids):
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
    """Returns the moment the condition holds (it is not asked again: a passing state, such as messages in flight,
    may be gone by a second look)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _wait_until_busy(worker: str) -> None:
    _wait_until(lambda: Classification.objects.filter(status=Status.RUNNING, worker__startswith=f"{worker}@").exists(),
                30)  # fmt: skip


@first_pass_only("what a worker does when it is killed or stopped")
def test_sigkill_a_worker_mid_task(fault_stack) -> None:
    started = time.monotonic()
    ids = asyncio.run(_submit(fault_stack.web_url + "/api/classifications", _images(60)))
    victim = fault_stack.process("worker-1")
    _wait_until_busy("worker-1")
    pool = children_of(victim.pid)
    fault_stack.stray_pids |= pool  # killed at the end should the test fail before they are gone
    os.kill(victim.pid, signal.SIGKILL)
    _wait_until(lambda: not any(alive(pid) for pid in pool), 5)  # its pool process goes with it, result unsent
    _wait_finished(ids, VISIBILITY + 90)
    counts = _report("SIGKILL a worker mid-task", ids, started)
    assert (counts["done"], counts["lost"]) == (60, 0)
    fault_stack.respawn("worker-1")


def _queue_counts(stack: LocalStack) -> dict[str, int]:
    """The classify queue's visible and in-flight message counts."""
    sqs = aws.client("sqs", stack.endpoint_url, stack.child_env())
    url = sqs.get_queue_url(QueueName=settings.SQS_QUEUE_PREFIX + settings.CLASSIFY_QUEUE)["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {"visible": int(attributes[names[0]]), "in_flight": int(attributes[names[1]])}


def _in_flight(stack: LocalStack) -> int:
    return _queue_counts(stack)["in_flight"]


@first_pass_only("what a worker does when it is killed or stopped")
def test_warm_shutdown_finishes_its_task_and_hands_prefetched_messages_back_at_once(fault_stack) -> None:
    """SIGTERM (systemd stopping the unit, a spot interruption): the running task finishes, and what the worker
    had prefetched is visible again at once, not after the visibility timeout. That last part is
    fastpaths/kombu_sqs.py's; with kombu's own transport (FAST_PATHS off) the worker still exits cleanly and nothing
    is lost, which is what is asserted then."""
    fast = "kombu_sqs" in settings.FAST_PATHS
    started = time.monotonic()
    # What this test measures is the queue's in-flight count, so it starts from none: a worker killed by an earlier
    # test may still hold a message whose request is done (its result went out before the kill), invisible until
    # its visibility timeout ends and a worker takes it again.
    _wait_until(lambda: _queue_counts(fault_stack) == {"visible": 0, "in_flight": 0}, VISIBILITY + 30)
    for name in ("worker-1", "worker-2"):
        fault_stack.process(name).stop()
    argv = [*worker_argv("greedy", queue=settings.CLASSIFY_QUEUE), "--prefetch-multiplier", "6"]
    greedy = ManagedProcess("greedy", argv, {**fault_stack.child_env(), "CLASSIFIER_PRELOAD": "true"},
                            fault_stack.log_dir / "greedy.log", settings.BASE_DIR).start()  # fmt: skip
    try:
        # More than the worker's prefetch window holds, so that the window stays full while the test looks.
        ids = asyncio.run(_submit(fault_stack.web_url + "/api/classifications", _images(30)))
        _wait_until_busy("greedy")
        _wait_until(lambda: _in_flight(fault_stack) >= 3, 30)  # one running, the rest prefetched
        greedy.send_signal(signal.SIGTERM)
        _wait_until(lambda: greedy.exit_code() is not None, 30 if fast else 60)
        assert greedy.exit_code() == 0
        if fast:
            _wait_until(lambda: _in_flight(fault_stack) == 0, 5)  # nothing left held by the worker that went
    except AssertionError:
        print("queue:", _queue_counts(fault_stack))
        print("requests:", sorted((row.status, row.worker) for row in Classification.objects.filter(pk__in=ids)))
        print((fault_stack.log_dir / "greedy.log").read_text(errors="replace")[-6000:])  # what the worker did
        raise
    finally:
        greedy.stop()
    for name in ("worker-1", "worker-2"):
        fault_stack.respawn(name)
    _wait_finished(ids, 60)
    counts = _report("SIGTERM a worker holding prefetched messages", ids, started)
    assert (counts["done"], counts["lost"]) == (30, 0)
    assert counts["duplicated"] == 0 or not fast


@first_pass_only("what a worker does when it is killed or stopped")
def test_sigkill_a_pool_child_redelivers_its_task(fault_stack) -> None:
    started = time.monotonic()
    ids = asyncio.run(_submit(fault_stack.web_url + "/api/classifications", _images(30)))
    worker = fault_stack.process("worker-2")
    _wait_until_busy("worker-2")
    children = children_of(worker.pid)
    assert children, "no pool child to kill"
    for pid in children:
        os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
    # The worker replaces its pool process and carries on, or, if the kill wedged its pool (classifier/worker/
    # stranded.py), hands its messages back and exits within a minute; runstack would start it again, as here.
    deadline = time.monotonic() + VISIBILITY + 90
    while time.monotonic() < deadline and not _all_finished(ids):
        if fault_stack.process("worker-2").exit_code() is not None:
            fault_stack.respawn("worker-2")
        time.sleep(0.5)
    counts = _report("SIGKILL a pool child", ids, started)
    assert (counts["done"], counts["lost"]) == (30, 0)


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


# Poison: a message is taken at most twice, then dead-lettered; the sweeper looks at the dead-letter queue every
# second and leaves the re-sending of stale requests (an hour away here) out of the way.
POISON_MAX_RECEIVES = 2
POISON_ENV = {**FAULT_ENV, "SQS_MAX_RECEIVE_COUNT": str(POISON_MAX_RECEIVES), "SWEEP_INTERVAL": "1",
              "SWEEP_AFTER_SECONDS": "3600"}  # fmt: skip


@pytest.fixture
def poison_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LocalStack]:
    """A stack of its own whose two workers crash decoding poison images (tests/integration/poison.py)."""
    log_dir = tmp_path_factory.mktemp("poison-logs")
    with override_settings(SQS_MAX_RECEIVE_COUNT=POISON_MAX_RECEIVES):  # the queues are created with it
        running = start_stack(log_dir, workers=0, extra_env=POISON_ENV)
    try:
        for name in ("worker-1", "worker-2"):
            argv = [*worker_argv(name, queue=settings.CLASSIFY_QUEUE), "--include", "tests.integration.poison"]
            env = {**running.child_env(), "CLASSIFIER_PRELOAD": "true"}
            # In the stack's own list, so that stop() ends them with the rest.
            running.processes.append(
                ManagedProcess(name, argv, env, log_dir / f"{name}.log", settings.BASE_DIR).start()
            )
        yield running
    finally:
        running.stop()


def _dead_letters_held(stack: LocalStack) -> int:
    sqs = aws.client("sqs", stack.endpoint_url, stack.child_env())
    url = sqs.get_queue_url(QueueName=settings.SQS_QUEUE_PREFIX + settings.DEAD_LETTER_QUEUE)["QueueUrl"]
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def _poison_failed_again(ids: list[str], dispatches: int) -> bool:
    rows = Classification.objects.filter(pk__in=ids, status=Status.FAILED, dispatches=dispatches)
    return rows.filter(error__startswith="dead-lettered: workers took it 2 times").count() == len(ids)


@first_pass_only("workers crashing on an image until the dead-letter queue takes it")
def test_poison_images_are_dead_lettered_failed_with_the_reason_and_fail_again_after_a_redrive(poison_stack) -> None:
    started = time.monotonic()
    good = [(path.name, path.read_bytes()) for path in _images(50)]
    poison = [(f"poison-{n}.JPEG", (IMAGES_DIR / "test_2.JPEG").read_bytes() + POISON) for n in range(5)]  # valid
    files = [*good]
    for n, item in enumerate(poison):
        files.insert(n * 11, item)  # spread among the good ones
    ids = asyncio.run(_submit_named(poison_stack.web_url + "/api/classifications", files))
    poison_ids = [ids[n * 11] for n in range(5)]
    good_ids = [request_id for request_id in ids if request_id not in poison_ids]

    # Each poison message kills a pool process twice, lands in the DLQ, and the sweeper's next pass fails it.
    _wait_finished(ids, 150)
    assert Classification.objects.filter(pk__in=good_ids, status=Status.DONE, result_deliveries=1).count() == 50
    assert _poison_failed_again(poison_ids, dispatches=1)
    assert _dead_letters_held(poison_stack) == 5  # failed, and still there to be re-driven

    # Re-driven with nothing fixed: the same crashes, the DLQ again, failed again with the reason.
    redriven = manage(poison_stack, "deadletters", "redrive")
    assert redriven.returncode == 0, redriven.stderr
    assert redriven.stdout.startswith("re-drove 5 request(s)")
    _wait_until(lambda: _poison_failed_again(poison_ids, dispatches=2), 150)
    _wait_until(lambda: _dead_letters_held(poison_stack) == 5, 10)

    counts = _report("5 poison images among 50: dead-lettered, failed, re-driven, failed again", ids, started)
    assert counts == {"requests": 55, "done": 50, "failed": 5, "lost": 0, "duplicated": 0}
    for name in ("worker-1", "worker-2"):
        assert poison_stack.process(name).exit_code() is None  # the workers replaced their pool processes


def _post(url: str, field: str, headers: dict[str, str] | None = None) -> httpx.Response:
    with (IMAGES_DIR / "test_2.JPEG").open("rb") as handle:
        return httpx.post(url, files={field: ("test_2.JPEG", handle, "image/jpeg")}, headers=headers, timeout=120)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="cuts the network between the web tier and PostgreSQL")
def test_postgresql_unreachable_for_a_moment_answers_503_and_keeps_nothing_half_written(fault_stack) -> None:
    """A web tier whose database connections all go through a proxy; the proxy is cut, then restored."""
    from django.db import connection

    started = time.monotonic()
    database = connection.settings_dict
    proxy = TcpProxy((database.get("HOST") or "127.0.0.1", int(database.get("PORT") or 5432))).start()
    port = free_port()
    env = {
        **fault_stack.child_env(),
        "DATABASE_URL": database_url({**database, "HOST": "127.0.0.1", "PORT": proxy.port}),
    }
    log = fault_stack.log_dir / "web-via-proxy.log"
    web = ManagedProcess("web-via-proxy", web_argv(port), env, log, settings.BASE_DIR).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port("127.0.0.1", port, timeout=60, process=web)
        accepted = [_request_id(_post(base + "/api/classifications", "file").json())]  # connections now pooled
        _wait_finished(accepted, 60)
        rows, stored = Classification.objects.count(), stored_inputs(fault_stack)

        proxy.cut()  # every pooled connection dies, and nothing listens any more
        refused = [_post(base + "/", "myfile"), _post(base + "/api/classifications", "file")]
        # A token is looked up before the upload view runs; a read needs the database too: 503s as well.
        refused.append(_post(base + "/api/classifications", "file", {"Authorization": "Token not-checked-yet"}))
        refused.append(httpx.get(f"{base}/api/classifications/{accepted[0]}", timeout=60))
        assert [response.status_code for response in refused] == [503] * 4, [r.text for r in refused]
        assert all("database unavailable" in response.text for response in refused)
        assert Classification.objects.count() == rows  # no row ...
        assert stored_inputs(fault_stack) == stored  # ... and no image stored for a refused upload stays behind

        proxy.restore()
        after = _post(base + "/api/classifications", "file")
        assert after.status_code == 202, after.text
        accepted.append(_request_id(after.json()))
        assert _post(base + "/", "myfile").text == "monarch butterfly"
        _wait_finished(accepted, 60)
    finally:
        web.stop()
        proxy.stop()
    rows_done = Classification.objects.filter(pk__in=accepted, status=Status.DONE, result_deliveries=1).count()
    assert rows_done == 2
    # Six uploads: one before the cut, three refused during it (one with a token), two after it (the synchronous
    # one answered its label); a read during the cut was a 503 too.
    print(f"\n| PostgreSQL unreachable for a moment (connections cut) | 6 | 3 | 0 | 0 | 0 | "
          f"{time.monotonic() - started:.0f} s |  (3 uploads and a read answered 503, nothing kept)")  # fmt: skip
