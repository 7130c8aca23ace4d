"""`manage.py deadletters list|fail|redrive`: deal with classify messages that reached the dead-letter queue."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier import dead_letters
from stack import aws


class Command(BaseCommand):
    help = "List the dead-lettered requests, fail them with the reason, or re-drive them to the classify queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "fail", "redrive"])

    def handle(self, *args: Any, **options: Any) -> None:
        prefix = settings.SQS_QUEUE_PREFIX
        try:
            sqs = aws.client("sqs")
            dead_letter_url = sqs.get_queue_url(QueueName=prefix + settings.DEAD_LETTER_QUEUE)["QueueUrl"]
            if options["action"] == "list":
                attributes = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["All"])["Attributes"]
                waiting = attributes["ApproximateNumberOfMessages"]
                self.stdout.write(f"{waiting} message(s) in {prefix + settings.DEAD_LETTER_QUEUE}")
            elif options["action"] == "fail":
                failed = dead_letters.fail(sqs, dead_letter_url)
                self.stdout.write(f"failed {len(failed)} request(s): {' '.join(failed) or '-'}")
            else:
                classify_url = sqs.get_queue_url(QueueName=prefix + settings.CLASSIFY_QUEUE)["QueueUrl"]
                redriven = dead_letters.redrive(sqs, dead_letter_url, classify_url)
                self.stdout.write(f"re-drove {len(redriven)} request(s): {' '.join(redriven) or '-'}")
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"cannot reach the queues: {exc}") from None
