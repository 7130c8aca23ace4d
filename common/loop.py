"""The shape of every long-running command (autoscale, sweep, runstack): one `tick()` at a time, short sleeps between
ticks, a stop flag that SIGTERM or Ctrl-C sets, and ticks that fail without ending the command.

`tick()` does one round and returns what it did, so a test calls it directly, one step at a time, with no loop and
no signals. The loop sleeps in slices of a fifth of a second, so a stop request ends it promptly between ticks,
never in the middle of one.

A tick that raises (SQS, EC2 or the database unreachable, throttled, a queue missing) does not end the loop: the
failure is logged once, with its reason, until the ticks succeed again, and then the recovery is logged with how
long it took (common/outages.py `OutageLog`). Meanwhile the loop tries again after a capped, jittered backoff, so a
fleet of commands does not hammer a recovering endpoint in step, and the first tick after a recovery comes within
OUTAGE_RETRY_CAP seconds. A tick acts only on what it observed in that same tick, so a failed observation never
leads to an action. A broken database connection is dropped after a failure, so the next tick connects afresh.
"""

from __future__ import annotations

import logging
import random
import signal
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from common.outages import OutageLog, outage_kind

SLEEP_SLICE = 0.2
OUTAGE_RETRY_FIRST = 1.0
OUTAGE_RETRY_CAP = 5.0


def retry_delay(failures: int, interval: float) -> float:
    """Seconds before the next try after `failures` failed ticks in a row: doubling from a second (or the interval,
    if shorter), capped at OUTAGE_RETRY_CAP, the upper half jittered."""
    # The exponent stops growing long past the cap: 2 ** 1024 is too large a float, and the loop must outlive that.
    ceiling = min(OUTAGE_RETRY_CAP, min(OUTAGE_RETRY_FIRST, interval) * 2 ** min(failures - 1, 32))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not cryptography


class LoopCommand(BaseCommand):
    stopping = False

    def say(self, line: str) -> None:
        """One line of what the loop did: a timestamped line on stdout, or with LOG_FORMAT=json a log record (one
        JSON object, like every other line the service writes)."""
        if settings.LOG_FORMAT == "json":
            logging.getLogger(type(self).__module__).info("%s", line)
        else:
            self.stdout.write(time.strftime("%H:%M:%S ") + line)

    def tick(self) -> Any:
        """One round of the command's work; returns what it did."""
        raise NotImplementedError

    def run_loop(self, interval: float, *, once: bool = False) -> None:
        """Tick every `interval` seconds until asked to stop (or once: then a failure is the command's error)."""
        self.catch_stop_signals()
        outages = OutageLog(logging.getLogger(type(self).__module__), what=self.loop_name())
        while not self.stopping:
            try:
                self.tick()
            except CommandError:
                raise  # the command's own verdict that it must stop, not an outage to wait out
            except Exception as exc:
                if once:
                    if (kind := outage_kind(exc)) is not None:  # an operator's one-off run: a line, no traceback
                        raise CommandError(f"{self.loop_name()} failed: {kind}: {exc}") from None
                    raise
                outages.failed(exc)
                close_old_connections()
                self.pause(retry_delay(outages.failures, interval))
                continue
            outages.succeeded()
            if once:
                return
            self.pause(self.next_pause(interval))

    def next_pause(self, interval: float) -> float:
        """Seconds until the next tick after one that succeeded; a command whose tick got through an outage in part
        (it went on without one dependency) returns the outage's retry delay instead, to notice the recovery soon."""
        return interval

    def loop_name(self) -> str:
        return type(self).__module__.rsplit(".", 1)[-1]

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
