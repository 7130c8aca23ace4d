"""`manage.py consume_results`: record what workers report on the results queue, a batch at a time, until SIGTERM
(classifier/results/consumer.py). One process per web host: one writer keeps SQLite free of lock contention."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from classifier.results.consumer import ResultsConsumer
from common.loop import LoopCommand
from fastpaths.botocore_sqs import sqs_client

# The pause after a step that failed grows from this (common/loop.py retry_delay); after one that worked, none: the
# receive's long poll is the wait.
RETRY_INTERVAL = 1.0


class Command(LoopCommand):
    help = "Record the workers' results, notices and failures from the results queue, up to ten per receive."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="one receive (and what it brought), then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        self.consumer = ResultsConsumer(
            sqs_client(),
            settings.SQS_QUEUE_PREFIX + settings.RESULTS_QUEUE,
            wait_seconds=settings.SQS_WAIT_TIME_SECONDS,
            batch_size=settings.RESULTS_BATCH,
        )
        try:
            self.run_loop(RETRY_INTERVAL, once=options["once"])
        finally:
            self.consumer.flush()

    def next_pause(self, interval: float) -> float:
        return 0.0

    def tick(self) -> int:
        return self.consumer.step()
