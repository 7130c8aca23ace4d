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
