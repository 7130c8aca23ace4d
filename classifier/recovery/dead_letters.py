"""The dead-letter queue: classify messages that reached SQS's maxReceiveCount without being answered, and messages
the results consumer refused (a report it cannot read, its reason in the letter's attributes: `refusal`).

A message lands there when workers took it maxReceiveCount times and never finished (a crash, a kill, a time
limit): a poison image, or a broken worker. Two kinds of reader take letters from it, through one `receive`:

- the sweeper, each pass (`DeadLetterWatch`): it peeks at a bounded number of letters with a short visibility,
  fails the requests still waiting for those very messages, and makes the letters visible again at once. Without
  it a poison image's request would wait until an operator looked, or until the sweeper gave up on it
  MAX_DISPATCHES x SWEEP_AFTER_SECONDS later. The messages stay (14 days, deploy/provision.py) for an operator.
  A queue deeper than one pass can look at is seen in parts: AWS hands out a different sample on each receive,
  the embedded endpoint the oldest letters first.
- an operator (`manage.py deadletters`, the admin's re-drive action): takes them all, then drops them, failing
  their requests (`fail`), or sends them back to the classify queue after fixing whatever was wrong (`redrive`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.utils import timezone

from classifier.models import Classification
from common.sqs_batches import SQS_BATCH_SIZE, in_batches
from fastpaths import celery_messages

logger = logging.getLogger(__name__)

# SQS's clock stamps a message, ours stamps the row's last send: allow them to disagree this much. A dead letter
# sent before the row's last send (minus this) belongs to an earlier send, and must not fail the newer one.
CLOCK_SLACK = timedelta(seconds=2)
# How long an operator's command waits for dead letters that someone else (the sweeper) holds for a moment.
HELD_ELSEWHERE_WAIT = 15.0
# An operator's command holds the letters it took this long: enough to deal with a thousand of them.
OPERATOR_VISIBILITY = 60
OPERATOR_LIMIT = 1000
# The sweeper's peek: at most this many letters a pass, so the pass stays cheap however deep the queue; hidden long
# enough to page through one pass without seeing a letter twice (the pass releases them sooner anyway).
PEEK_LIMIT = 100
PEEK_VISIBILITY = 10
ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]


@dataclass(frozen=True)
class DeadLetter:
    body: str
    receipt_handle: str
    receive_count: int
    request_id: str | None
    sent_at: datetime | None = None  # when the message was first sent (SQS keeps it when it dead-letters)
    refused: str | None = None  # "<queue>: <why>" for a message a reader refused; never sent to the classify queue


# A refused message's attributes: the queue that refused it, and why.
REFUSED_FROM = "refused-from"
REFUSED_BECAUSE = "refused-because"


def refusal(queue_name: str, why: str) -> dict[str, dict[str, str]]:
    """The message attributes of a message `queue_name`'s reader moves here because it cannot read it."""
    return {
        REFUSED_FROM: {"DataType": "String", "StringValue": queue_name},
        REFUSED_BECAUSE: {"DataType": "String", "StringValue": why[:1000] or "unreadable"},
    }


def _refused(message: dict[str, Any]) -> str | None:
    attributes = message.get("MessageAttributes") or {}
    if REFUSED_FROM not in attributes:
        return None
    why = attributes.get(REFUSED_BECAUSE, {}).get("StringValue", "unreadable")
    return f"{attributes[REFUSED_FROM].get('StringValue')}: {why}"


@dataclass(frozen=True)
class DeadLetterQueues:
    dead_letter: str  # URLs
    classify: str
    max_receive_count: int  # the classify queue's redrive policy: how many receives a dead letter had


def find_queues(sqs: Any) -> DeadLetterQueues:
    prefix = settings.SQS_QUEUE_PREFIX
    dead_letter = sqs.get_queue_url(QueueName=prefix + settings.DEAD_LETTER_QUEUE)["QueueUrl"]
    classify = sqs.get_queue_url(QueueName=prefix + settings.CLASSIFY_QUEUE)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=classify, AttributeNames=["RedrivePolicy"])["Attributes"]
    # The queue's own policy, not our setting: it is what SQS applied, even if the setting changed since.
    policy = json.loads(attributes.get("RedrivePolicy") or "{}")
    return DeadLetterQueues(dead_letter, classify, int(policy.get("maxReceiveCount", settings.SQS_MAX_RECEIVE_COUNT)))


def reason(max_receive_count: int) -> str:
    return (f"dead-lettered: workers took it {max_receive_count} times without finishing "
            "(a crash, a kill or a time limit)")  # fmt: skip


def request_id_of(body: str) -> str | None:
    """The request id inside a Celery classify message, or None for anything else."""
    try:
        message = celery_messages.decode(body)
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if message.name != "classifier.classify" or not message.args:
        return None
    return str(message.args[0])


def letters_from(messages: Iterable[dict[str, Any]]) -> list[DeadLetter]:
    letters = []
    for message in messages:
        attributes = message.get("Attributes", {})
        sent = attributes.get("SentTimestamp")
        letters.append(
            DeadLetter(
                message["Body"],
                message["ReceiptHandle"],
                int(attributes.get("ApproximateReceiveCount", 0)),
                request_id_of(message["Body"]),
                datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
                _refused(message),
            )
        )
    return letters


def _pk(letter: DeadLetter) -> uuid.UUID | None:
    try:
        return uuid.UUID(letter.request_id or "")
    except ValueError:
        return None


# --- Taking letters and giving them back ---------------------------------------------------------------------
def receive(
    sqs: Any,
    url: str,
    *,
    limit: int = OPERATOR_LIMIT,
    visibility: int = OPERATOR_VISIBILITY,
    wait_for_held: bool = True,
) -> list[DeadLetter]:
    """Take up to `limit` letters, hidden from others for `visibility` seconds.

    `wait_for_held`: when the queue looks empty but someone else (the sweeper's peek) holds letters for a moment,
    wait for them, up to HELD_ELSEWHERE_WAIT: an operator's command means all of them.
    """
    letters: list[DeadLetter] = []
    waited_until = time.monotonic() + HELD_ELSEWHERE_WAIT
    while len(letters) < limit:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=min(SQS_BATCH_SIZE, limit - len(letters)), VisibilityTimeout=visibility,
            WaitTimeSeconds=0, AttributeNames=ATTRIBUTES, MessageAttributeNames=["All"],
        ).get("Messages", [])  # fmt: skip
        if messages:
            letters += letters_from(messages)
            continue
        if not wait_for_held or _held_elsewhere(sqs, url, len(letters)) == 0 or time.monotonic() > waited_until:
            break
        time.sleep(0.5)
    return letters


def _held_elsewhere(sqs: Any, url: str, held_here: int) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    return max(0, int(attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"]) - held_here)


def release(sqs: Any, url: str, letters: list[DeadLetter]) -> None:
    """Make received letters visible again at once (they stay in the queue)."""
    for batch in in_batches(letters):
        entries = [{"Id": str(index), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                   for index, letter in enumerate(batch)]  # fmt: skip
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


# --- What the letters mean for their requests -----------------------------------------------------------------
def fail_request(letter: DeadLetter, why: str, now: datetime) -> bool:
    """Fail the letter's request if it still waits for this very message. True when this call failed it.

    Two sweepers (or a sweeper and an operator) seeing the same letter fail it once, and a request that finished,
    or was sent again after this message (a re-run), is left alone.
    """
    pk = _pk(letter)
    if pk is None:
        return False
    waiting = Classification.objects.filter(pk=pk)
    if letter.sent_at is not None:
        waiting = waiting.filter(dispatched_at__lte=letter.sent_at + CLOCK_SLACK)
    return waiting.fail(why, now) == 1


def fail_dead_lettered(sqs: Any, queues: DeadLetterQueues, now: datetime, limit: int = PEEK_LIMIT) -> list[str]:
    """The sweeper's peek: fail the requests of up to `limit` letters, and leave the letters there."""
    letters = receive(sqs, queues.dead_letter, limit=limit, visibility=PEEK_VISIBILITY, wait_for_held=False)
    why = reason(queues.max_receive_count)
    try:
        failed = [str(letter.request_id) for letter in letters if fail_request(letter, why, now)]
    finally:
        # Visible again now, so `deadletters redrive` and `list` see the whole queue right after a pass.
        release(sqs, queues.dead_letter, letters)
    for request_id in failed:
        logger.warning("request %s failed: %s", request_id, why)
    return failed


def fail(sqs: Any, queues: DeadLetterQueues) -> tuple[list[str], int]:
    """Mark every dead-lettered request failed, with the reason, and drop its message.

    Returns the requests this call failed, and how many letters were dropped without failing anything (their
    request had finished, was already failed, or was sent again after the letter died).
    """
    failed, dropped = [], 0
    now = timezone.now()
    for letter in receive(sqs, queues.dead_letter):
        if letter.request_id:
            if fail_request(letter, reason(queues.max_receive_count), now):
                failed.append(letter.request_id)
            else:
                dropped += 1
        else:
            dropped += 1
            logger.warning("dropping a dead letter that is not a classify message (%s): %.200s",
                           letter.refused or "no request id", letter.body)  # fmt: skip
        sqs.delete_message(QueueUrl=queues.dead_letter, ReceiptHandle=letter.receipt_handle)
    return failed, dropped


def redrive(sqs: Any, queues: DeadLetterQueues, only: Collection[str] | None = None) -> list[str]:
    """Send dead-lettered messages back to the classify queue; their requests are queued again.

    `only`: re-drive the letters of these request ids, and leave the others in the queue. A letter whose request is
    done (or gone) is dropped: sending it again would only classify the image twice.
    """
    redriven = []
    letters = receive(sqs, queues.dead_letter)
    # A refused report is no classify message: it stays for an operator to read (`fail` drops it).
    keep = [letter for letter in letters if letter.refused or (only is not None and letter.request_id not in only)]
    kept = {letter.receipt_handle for letter in keep}
    for letter in letters:
        if letter.receipt_handle in kept:
            continue
        pk = _pk(letter)
        if pk is not None:
            # Queued again before the message goes out, so a quick worker's result finds the row pending.
            if not Classification.objects.filter(pk=pk).requeue(timezone.now()):
                logger.info("dropping the dead letter of %s: the request is done or gone", letter.request_id)
                sqs.delete_message(QueueUrl=queues.dead_letter, ReceiptHandle=letter.receipt_handle)
                continue
            redriven.append(str(pk))
        sqs.send_message(QueueUrl=queues.classify, MessageBody=letter.body)
        sqs.delete_message(QueueUrl=queues.dead_letter, ReceiptHandle=letter.receipt_handle)
    release(sqs, queues.dead_letter, keep)
    logger.info("re-drove %d dead letters", len(redriven))
    return redriven


class DeadLetterWatch:
    """The sweeper's look at the dead-letter queue, each pass. Makes its client and finds the queues on first use,
    and finds the queues again after an error (the endpoint may have restarted)."""

    def __init__(self, make_client: Callable[[], Any], on_error: Callable[[Exception], None] | None = None) -> None:
        self.make_client = make_client
        self.on_error = on_error  # the sweeper logs SQS outages once per outage; alone, the watch logs each one
        self.sqs: Any = None
        self.queues: DeadLetterQueues | None = None

    def run(self, now: datetime) -> list[str]:
        try:
            if self.queues is None:
                self.sqs = self.sqs or self.make_client()
                self.queues = find_queues(self.sqs)
            return fail_dead_lettered(self.sqs, self.queues, now)
        except (BotoCoreError, ClientError) as exc:
            # The queue is transport: requests keep waiting in the database and the next pass looks again.
            self.queues = None
            if self.on_error is not None:
                self.on_error(exc)
            else:
                logger.warning("cannot look at the dead-letter queue (%s); trying again next pass", exc)
            return []
