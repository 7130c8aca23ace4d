"""`manage.py sweep`: re-send requests that were accepted but never answered (see classifier/sweeper.py)."""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from classifier.intake import send_for_classification
from classifier.sweeper import sweep


class Command(BaseCommand):
    help = "Re-send requests stuck in queued or running past SWEEP_AFTER_SECONDS; fail them after MAX_DISPATCHES."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one sweep, then exit")
        parser.add_argument("--interval", type=float, default=settings.SWEEP_INTERVAL)
        parser.add_argument("--after", type=float, default=settings.SWEEP_AFTER_SECONDS, help="seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stopping = False
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        while not self.stopping:
            report = sweep(
                timezone.now(),
                after=timedelta(seconds=options["after"]),
                max_dispatches=settings.MAX_DISPATCHES,
                send=send_for_classification,
            )
            if report.resent or report.failed or options["once"]:
                self.stdout.write(time.strftime("%H:%M:%S ") + report.line())
            if options["once"]:
                return
            deadline = time.monotonic() + options["interval"]
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(0.2)

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
