"""`manage.py sweep`: re-send requests that were accepted but never answered, fail the requests whose messages were
dead-lettered, and forget expired Idempotency-Keys, every SWEEP_INTERVAL seconds (classifier/recovery/sweeper.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.utils import timezone

from classifier.recovery.sweeper import Sweeper, SweepReport
from common import aws
from common.loop import LoopCommand, retry_delay


class Command(LoopCommand):
    help = ("Re-send requests stuck in queued or running past SWEEP_AFTER_SECONDS; fail them after MAX_DISPATCHES; "
            "fail the requests of dead-lettered messages (the messages stay for `deadletters redrive`).")  # fmt: skip

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one sweep, then exit")
        parser.add_argument("--interval", type=float, default=settings.SWEEP_INTERVAL)
        parser.add_argument("--after", type=float, default=settings.SWEEP_AFTER_SECONDS, help="seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        self.once = options["once"]
        self.sweeper = Sweeper(
            lambda: aws.client("sqs"), after=timedelta(seconds=options["after"]), max_dispatches=settings.MAX_DISPATCHES
        )
        self.run_loop(options["interval"], once=self.once)

    def next_pause(self, interval: float) -> float:
        # SQS away does not fail a pass (its database side goes on), but its return should be noticed within seconds.
        outage = self.sweeper.sqs_outage
        return min(interval, retry_delay(outage.failures, interval)) if outage.ongoing else interval

    def tick(self) -> SweepReport:
        # A database away for a moment fails the pass; the loop retries it, and the next pass finds the same rows.
        report = self.sweeper.sweep(timezone.now())
        if report.found_work() or self.once:
            self.say(report.line())
        return report
