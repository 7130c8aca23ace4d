"""The long-running commands outlive outages, with the shipped defaults: the embedded endpoint away for 10 s, then
the database away for 10 s (every process of the stack reaches PostgreSQL through a proxy that is cut).

The autoscaler, the sweeper and the results consumer stay up, log each outage once with its reason and then their
recovery, tick again within seconds of it, and the autoscaler scales nothing in meanwhile. Requests accepted after
each outage are answered: the results consumer consumes again.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autoscale.models import ScalingEvent
from stack.local import LocalStack
from stack.tcp_proxy import TcpProxy
from tests.integration.conftest import ON_POSTGRESQL, database_url, start_stack
from tests.integration.test_faults import _images, _submit, _wait_finished

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not ON_POSTGRESQL, reason="cuts the network between the stack and PostgreSQL"),
]

OUTAGE = 10.0
RECOVERY_ALLOWED = 8.0  # the loop's retry cap (5 s) plus a tick
COMMANDS = ("autoscaler", "sweeper")
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


@pytest.fixture(scope="module")
def proxied_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[tuple[LocalStack, TcpProxy]]:
    from django.db import connection

    database = connection.settings_dict
    proxy = TcpProxy((database.get("HOST") or "127.0.0.1", int(database.get("PORT") or 5432))).start()
    url = database_url({**database, "HOST": "127.0.0.1", "PORT": proxy.port})
    # The sweeper every 10 s as shipped, nothing else changed: SWEEP_INTERVAL is the shipped default.
    running = start_stack(tmp_path_factory.mktemp("outage-logs"), workers=0, autoscale=True,
                          extra_env={"DATABASE_URL": url})  # fmt: skip
    try:
        yield running, proxy
    finally:
        running.stop()
        proxy.stop()


def _lines(stack: LocalStack, name: str, since: datetime, pattern: str) -> list[tuple[datetime, str]]:
    """Log lines of one child matching `pattern`, written at or after `since` (local time, as the logs write it)."""
    found = []
    for line in Path(stack.log_dir / f"{name}.log").read_text(errors="replace").splitlines():
        stamp = LOG_TIME.match(line)
        if stamp and pattern in line:
            at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f")
            if at >= since:
                found.append((at, line))
    return found


def _workers() -> int:
    from autoscale.providers.local import LocalProvider

    return len(LocalProvider.from_settings().instances())


def _serve_a_few(stack: LocalStack) -> None:
    ids = asyncio.run(_submit(stack.web_url + "/api/classifications", _images(5)))
    _wait_finished(ids, 90)
    from classifier.models import Classification, Status

    assert Classification.objects.filter(pk__in=ids, status=Status.DONE).count() == 5


def _check_outlived(stack: LocalStack, began: datetime, restored: datetime, *reasons: str) -> None:
    assert stack.first_exited() is None, f"{stack.first_exited().name} exited"  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    for name in COMMANDS:
        while not (recovered := _lines(stack, name, began, "recovered after")) and time.monotonic() < deadline:
            time.sleep(0.5)
        failed = _lines(stack, name, began, " failed: ")
        if not failed and not recovered:  # no tick of it fell inside the outage (the sweeper's come every 10 s)
            print(f"\n{name}: no tick during the outage")
            continue
        assert failed and any(reason in failed[0][1] for reason in reasons), (name, failed)
        # Once per outage and source (the autoscaler's ticks, its fleet samples), once more if the reason changed.
        assert len(failed) <= 3, failed
        assert 1 <= len(recovered) <= 2, (name, recovered)
        assert all((at - restored).total_seconds() <= RECOVERY_ALLOWED for at, _ in recovered), (recovered, restored)
        assert not _lines(stack, name, began, "Traceback")
        for _, line in failed + recovered:
            print(f"\n{name}: {line}")


def test_an_endpoint_outage_then_a_database_outage_are_outlived(proxied_stack) -> None:
    stack, proxy = proxied_stack
    _serve_a_few(stack)  # a worker is up, and everyone has connected once

    began = datetime.now()
    since = datetime.now(UTC)
    workers = _workers()
    stack.process("aws-endpoint").stop()
    time.sleep(OUTAGE)
    stack.restart_endpoint()  # the same port, empty, provisioned again
    restored = datetime.now()
    assert _workers() >= workers  # nobody scaled in on a queue depth nobody could read
    # Down, then up but empty until it is provisioned again: either is what a tick may have met.
    _check_outlived(stack, began, restored, "AWS endpoint unreachable", "queue missing")
    _serve_a_few(stack)

    began = datetime.now()
    workers = _workers()
    proxy.cut()
    time.sleep(OUTAGE)
    proxy.restore()
    restored = datetime.now()
    assert _workers() >= workers
    _check_outlived(stack, began, restored, "database unreachable")
    _serve_a_few(stack)
    assert not ScalingEvent.objects.filter(created_at__gte=since, action=ScalingEvent.Action.TERMINATE).exists()
