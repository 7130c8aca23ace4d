"""The dead-letter queue: classify messages that reached SQS's maxReceiveCount without being answered.

A message lands there when workers took it SQS_MAX_RECEIVE_COUNT times and never finished (a crash, a kill, a time
limit): a poison image, or a broken worker. From here an operator either fails the requests, with the reason, or
re-drives them to the classify queue (after fixing whatever was wrong).
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any

from django.db.models import F
from django.utils import timezone

from classifier.models import Classification, Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    body: str
    receipt_handle: str
    receive_count: int
    request_id: str | None


def request_id_of(body: str) -> str | None:
    """The request id inside a kombu/Celery classify message (base64 envelope, base64 JSON body)."""
    try:
        envelope = json.loads(base64.b64decode(body))
        if envelope.get("headers", {}).get("task") != "classifier.classify":
            return None
        args = json.loads(base64.b64decode(envelope["body"]))[0]
        return str(args[0])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def receive(sqs: Any, url: str, limit: int = 1000) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    while len(letters) < limit:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, AttributeNames=["ApproximateReceiveCount"]
        ).get("Messages", [])
        if not messages:
            break
        letters += [
            DeadLetter(
                m["Body"],
                m["ReceiptHandle"],
                int(m["Attributes"].get("ApproximateReceiveCount", 0)),
                request_id_of(m["Body"]),
            )
            for m in messages
        ]
    return letters


def fail(sqs: Any, dead_letter_url: str) -> list[str]:
    """Mark every dead-lettered request failed, with the reason, and drop its message."""
    failed = []
    for letter in receive(sqs, dead_letter_url):
        if letter.request_id:
            reason = (
                f"dead-lettered: workers took it {letter.receive_count} times without finishing "
                "(a crash, a kill or a time limit)"
            )
            Classification.objects.filter(pk=letter.request_id, status__in=(Status.QUEUED, Status.RUNNING)).update(
                status=Status.FAILED, error=reason, recorded_at=timezone.now()
            )
            failed.append(letter.request_id)
        else:
            logger.warning("dropping a dead letter that is not a classify message: %.200s", letter.body)
        sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=letter.receipt_handle)
    return failed


def redrive(sqs: Any, dead_letter_url: str, classify_url: str) -> list[str]:
    """Send every dead-lettered message back to the classify queue; their requests are queued again."""
    redriven = []
    for letter in receive(sqs, dead_letter_url):
        if letter.request_id:
            # Queued again before the message goes out, so a quick worker's result finds the row pending.
            Classification.objects.filter(
                pk=letter.request_id, status__in=(Status.QUEUED, Status.RUNNING, Status.FAILED)
            ).update(status=Status.QUEUED, error="", dispatches=F("dispatches") + 1, dispatched_at=timezone.now())
            redriven.append(letter.request_id)
        sqs.send_message(QueueUrl=classify_url, MessageBody=letter.body)
        sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=letter.receipt_handle)
    logger.info("re-drove %d dead letters", len(redriven))
    return redriven
