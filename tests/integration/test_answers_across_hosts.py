"""A synchronous caller answered promptly when another host's results consumer recorded its result.

The web tier here stands for one host; the results consumer for another: a wake-up folder of its own, so its
datagram nudges reach no web process of ours. Only PostgreSQL's NOTIFY (classifier/results/announce.py) can then
answer the caller before the poller's timed look, which the web tier is told to make only every 5 s (the longest
RESULT_POLL_SECONDS allows; shipped: 0.05 s). Each caller must be answered well inside that.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from stack.local import LocalStack, results_consumer_argv
from tests.conftest import IMAGES_DIR
from tests.integration.conftest import ON_POSTGRESQL, start_stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not ON_POSTGRESQL, reason="results are announced across hosts through PostgreSQL"),
]

TIMED_LOOK_SECONDS = 5.0


@pytest.fixture(scope="module")
def two_hosts(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LocalStack]:
    log_dir = tmp_path_factory.mktemp("two-hosts")
    stack = start_stack(log_dir, workers=1, extra_env={"RESULT_POLL_SECONDS": str(TIMED_LOOK_SECONDS)})
    try:
        stack.process("results-consumer").stop(timeout=30)
        other_host = {**stack.child_env(), "RESULT_WAKEUP_DIR": str(log_dir / "other-host-run")}
        stack.spawn("other-host-results", results_consumer_argv(), other_host)
        yield stack
    finally:
        stack.stop()
        print(f"logs: {log_dir}")


def _callers(url: str, images: list) -> list[float]:
    waits = []
    with httpx.Client(timeout=60) as client:
        for path in images:
            started = time.monotonic()
            answer = client.post(url + "/", files={"myfile": (path.name, path.read_bytes())})
            waits.append(time.monotonic() - started)
            assert answer.status_code == 200 and answer.text.strip(), answer.text
    return waits


def test_a_result_recorded_on_another_host_wakes_its_caller_here(two_hosts: LocalStack) -> None:
    images = sorted(IMAGES_DIR.glob("*.JPEG"))
    waits = _callers(two_hosts.web_url, images[:6])
    # The first may wait on a worker's cold start; every later one must beat the timed look by far.
    assert max(waits[1:]) < TIMED_LOOK_SECONDS / 2, waits


def test_after_its_listening_connection_is_cut_the_web_tier_listens_again(two_hosts: LocalStack) -> None:
    """A database restart or a failover ends every session: the web processes connect and LISTEN again."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = %s",
                       ["LISTEN classifier_results"])  # fmt: skip
        assert cursor.fetchone()[0] >= 1  # the web process's listening connection
    time.sleep(3)  # its first retry comes after a second
    waits = _callers(two_hosts.web_url, sorted(IMAGES_DIR.glob("*.JPEG"))[6:10])
    assert max(waits) < TIMED_LOOK_SECONDS / 2, waits
