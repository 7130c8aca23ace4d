"""The shape of every long-running command (autoscale, sweep, runstack): one `tick()` at a time, short sleeps between
ticks, and a stop flag that SIGTERM or Ctrl-C sets.

`tick()` does one round and returns what it did, so a test calls it directly, one step at a time, with no loop and
no signals. The loop sleeps in slices of a fifth of a second, so a stop request ends it promptly between ticks,
never in the middle of one.
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

SLEEP_SLICE = 0.2


class LoopCommand(BaseCommand):
    stopping = False

    def tick(self) -> Any:
        """One round of the command's work; returns what it did."""
        raise NotImplementedError

    def run_loop(self, interval: float, *, once: bool = False) -> None:
        """Tick every `interval` seconds until asked to stop (or once)."""
        self.catch_stop_signals()
        while not self.stopping:
            self.tick()
            if once:
                return
            self.pause(interval)

    def catch_stop_signals(self) -> None:
        """From now on SIGTERM and Ctrl-C ask the loop to stop (a command may want this before its loop starts)."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(SLEEP_SLICE, left))

    def request_stop(self, signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        self.stopping = True
