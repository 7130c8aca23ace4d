"""`manage.py sweep`: re-send requests that were accepted but never answered (see classifier/sweeper.py), fail
the requests whose messages were dead-lettered (classifier/dead_letter_watch.py), and forget expired
Idempotency-Keys (classifier/idempotency.py)."""

from __future__ import annotations

import logging
import signal
import time
from datetime import timedelta
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from classifier import idempotency
from classifier.dead_letter_watch import DeadLetterWatch
from classifier.intake import send_for_classification
from classifier.sweeper import SweepReport, sweep
from stack import aws
from stack.queue_depth import SqsQueueDepth

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = ("Re-send requests stuck in queued or running past SWEEP_AFTER_SECONDS; fail them after MAX_DISPATCHES; "
            "fail the requests of dead-lettered messages (the messages stay for `deadletters redrive`).")  # fmt: skip

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one sweep, then exit")
        parser.add_argument("--interval", type=float, default=settings.SWEEP_INTERVAL)
        parser.add_argument("--after", type=float, default=settings.SWEEP_AFTER_SECONDS, help="seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stopping = False
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.watch = DeadLetterWatch(lambda: aws.client("sqs"))
        self.queue_depth: SqsQueueDepth | None = None
        while not self.stopping:
            try:
                report = self.sweep_once(timedelta(seconds=options["after"]))
            except DatabaseError as exc:
                if options["once"]:
                    raise
                # The database away for a moment must not end the sweeper: the next pass finds the same rows.
                logger.warning("sweep skipped, database unavailable: %s", exc)
                report = SweepReport()
            if report.found_work() or options["once"]:
                self.stdout.write(time.strftime("%H:%M:%S ") + report.line())
            if options["once"]:
                return
            deadline = time.monotonic() + options["interval"]
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(0.2)

    def sweep_once(self, after: timedelta) -> SweepReport:
        now = timezone.now()
        report = sweep(now, after=after, max_dispatches=settings.MAX_DISPATCHES, send=send_for_classification,
                       backlog=self.classify_backlog)  # fmt: skip
        report.dead_lettered = self.watch.run(now)
        idempotency.forget_expired(now)
        return report

    def classify_backlog(self) -> int:
        if self.queue_depth is None:  # made on first use: the endpoint may come up after the sweeper
            self.queue_depth = SqsQueueDepth(aws.client("sqs"), settings.SQS_QUEUE_PREFIX + settings.CLASSIFY_QUEUE)
        return sum(self.queue_depth())

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
