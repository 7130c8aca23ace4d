"""The loop of long-running commands: ticks until a stop request, sleeping in short slices between them."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from common.loop import LoopCommand


class Counting(LoopCommand):
    def __init__(self, stop_after: int | None = None) -> None:
        super().__init__()
        self.ticks = 0
        self.stop_after = stop_after

    def tick(self) -> int:
        self.ticks += 1
        if self.ticks == self.stop_after:
            self.request_stop()
        return self.ticks


@pytest.fixture(autouse=True)
def _no_database(monkeypatch) -> None:
    """These loops touch no database; a connection an earlier test left open is not theirs to close."""
    monkeypatch.setattr("common.loop.close_old_connections", lambda: None)


@pytest.fixture(autouse=True)
def _keep_signal_handlers():
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_once_ticks_once() -> None:
    command = Counting()
    command.run_loop(60, once=True)
    assert command.ticks == 1


def test_a_stop_request_ends_the_loop_after_the_tick_in_hand() -> None:
    command = Counting(stop_after=3)
    command.run_loop(0)
    assert command.ticks == 3


def test_sigterm_stops_a_long_sleep_promptly() -> None:
    command = Counting()
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()  # handled in this (main) thread
    started = time.monotonic()
    command.run_loop(3600)
    assert command.ticks == 1
    assert time.monotonic() - started < 2


class Flaky(LoopCommand):
    """Fails its ticks with `errors` in turn, then succeeds `then` times and stops."""

    def __init__(self, errors: list[Exception], then: int = 2) -> None:
        super().__init__()
        self.errors = list(errors)
        self.then = then
        self.attempts: list[float] = []

    def tick(self) -> None:
        self.attempts.append(time.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        self.then -= 1
        if self.then == 0:
            self.request_stop()


def _unreachable() -> Exception:
    from botocore.exceptions import EndpointConnectionError

    return EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")


def test_an_outage_is_logged_once_with_its_reason_then_its_recovery_and_the_loop_goes_on(caplog, monkeypatch) -> None:
    monkeypatch.setattr("common.loop.OUTAGE_RETRY_FIRST", 0.01)
    command = Flaky([_unreachable() for _ in range(4)])
    with caplog.at_level("WARNING"):
        command.run_loop(0.01)
    assert len(command.attempts) == 6  # 4 failed, 2 good: the command never ended
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert "failed: AWS endpoint unreachable (Could not connect to the endpoint URL" in messages[0]
    assert "recovered after" in messages[1] and "(4 failed tries)" in messages[1]
    assert all(record.exc_info is None for record in caplog.records)  # a line, not a traceback per tick


def test_a_new_reason_is_logged_again_and_a_bug_gets_its_traceback_once(caplog, monkeypatch) -> None:
    from django.db import OperationalError

    monkeypatch.setattr("common.loop.OUTAGE_RETRY_FIRST", 0.01)
    errors = [_unreachable(), OperationalError("connection refused"), KeyError("x"), KeyError("x")]
    with caplog.at_level("WARNING"):
        Flaky(errors, then=1).run_loop(0.01)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 4, messages
    assert "AWS endpoint unreachable" in messages[0]
    assert "database unreachable (connection refused)" in messages[1]
    assert caplog.records[2].exc_info is not None and "failed; retrying" in messages[2]
    assert "recovered after" in messages[3]


def test_retries_back_off_with_jitter_up_to_a_cap() -> None:
    from common.loop import OUTAGE_RETRY_CAP, retry_delay

    delays = [retry_delay(failures, interval=30) for failures in range(1, 12)]
    assert 0.5 <= delays[0] <= 1.0  # the first retry comes quickly
    assert all(OUTAGE_RETRY_CAP / 2 <= delay <= OUTAGE_RETRY_CAP for delay in delays[4:])  # never beyond the cap
    assert len({round(retry_delay(9, 30), 6) for _ in range(20)}) > 1  # jittered: a fleet does not retry in step
    assert retry_delay(1, interval=0.2) <= 0.2  # never slower than the command's own pace
    assert retry_delay(100_000, interval=30) <= OUTAGE_RETRY_CAP  # days of failures: still a number


def test_once_turns_an_outage_into_a_one_line_command_error() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="failed: AWS endpoint unreachable"):
        Flaky([_unreachable()]).run_loop(1, once=True)
