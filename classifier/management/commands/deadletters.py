"""`manage.py deadletters list|fail|redrive`: deal with classify messages that reached the dead-letter queue."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.recovery import dead_letters
from common import aws


class Command(BaseCommand):
    help = "List the dead-lettered requests, fail them with the reason, or re-drive them to the classify queue."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "fail", "redrive"])

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sqs = aws.client("sqs")
            queues = dead_letters.find_queues(sqs)
            if options["action"] == "list":
                names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
                attributes = sqs.get_queue_attributes(QueueUrl=queues.dead_letter, AttributeNames=names)["Attributes"]
                waiting, held = (int(attributes[name]) for name in names)
                # Held ones are being looked at (the sweeper peeks each pass): still in the queue.
                name = queues.dead_letter.rsplit("/", 1)[-1]
                self.stdout.write(f"{waiting + held} message(s) in {name} ({held} held for a moment)")
                self._list_refused(sqs, queues.dead_letter)
            elif options["action"] == "fail":
                failed, dropped = dead_letters.fail(sqs, queues)
                self.stdout.write(f"failed {len(failed)} request(s): {' '.join(failed) or '-'}")
                if dropped:
                    self.stdout.write(f"dropped {dropped} letter(s) whose request was no longer waiting for them")
            else:
                redriven = dead_letters.redrive(sqs, queues)
                self.stdout.write(f"re-drove {len(redriven)} request(s): {' '.join(redriven) or '-'}")
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"cannot reach the queues: {exc}") from None

    def _list_refused(self, sqs: Any, url: str) -> None:
        """The messages a reader refused (not classify messages), each with why: a quick look, then given back."""
        letters = dead_letters.receive(sqs, url, limit=dead_letters.PEEK_LIMIT, visibility=dead_letters.PEEK_VISIBILITY,
                                       wait_for_held=False)  # fmt: skip
        dead_letters.release(sqs, url, letters)
        for letter in letters:
            if letter.refused:
                self.stdout.write(f"refused by {letter.refused}: {letter.body[:200]}")
