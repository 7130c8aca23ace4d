"""The results consumer: the workers' reports, received up to ten messages at a time (a message carries one report or
a worker's batch of them, in classifier/contract.py's format), recorded together, deleted together.

One receive, one transaction and one DeleteMessageBatch per batch, where a Celery worker on this queue made a
receive, a task and a DeleteMessage of each report: under load the queue's round trips and Celery's per-task work,
not the database, were what a result cost (bench/pipeline.py prints it). At-least-once holds as before: a report is
deleted only after the transaction that recorded it committed, and recording is idempotent (the first answer wins,
classifier/results/recording.py), so a crash anywhere redelivers at worst what was already recorded.

A database away for a moment puts the batch back after a short, growing delay (instead of the queue's visibility
timeout) and fails the step, so the command's loop logs the outage once and tries again. A report that cannot be
recorded for any other reason (a bug) is logged with its traceback and deleted, as Celery did with a failing task:
its request stays pending, and the sweeper sends it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from classifier.contract import Kind, UnreadableReport, backoff_seconds
from classifier.recovery.dead_letters import refusal
from classifier.results import recording
from classifier.results.announce import announce
from classifier.results.reports import Report, read
from classifier.results.wakeup import Answer, nudge_waiters
from common.gathering import Gathering
from common.logs import about_request
from common.outages import database_unreachable
from common.sqs_batches import SQS_BATCH_SIZE, in_batches

logger = logging.getLogger(__name__)

# Recorded reports are deleted in batches: once ten wait, when a receive comes back empty, when the oldest has waited
# this long, and when the consumer stops. Meanwhile a recorded report stays invisible on the queue for the queue's
# visibility timeout (10 s), far longer; if the consumer dies first it comes back as a duplicate, which recording
# ignores. Under a trickle of results, one receive brings one report: deleting each at once doubled the calls.
DELETE_WITHIN_SECONDS = 1.0
# A batch put back during a database outage comes back after at most this many seconds (jittered, growing with its
# receives): soon after the database does, without hammering it meanwhile.
OUTAGE_BACKOFF_CAP = 30.0

# The reports recorded one by one: rare beside results (a notice only for a slow request, failures, expiries).
_SINGLE: dict[Kind, Callable[..., bool]] = {
    Kind.STARTED: recording.record_started,
    Kind.FAILURE: recording.record_failure,
    Kind.EXPIRED: recording.record_expired,
}
# Notices first: a result in the same batch then moves the request on from running, not the other way round.
_ORDER = (Kind.STARTED, Kind.RESULT, Kind.FAILURE, Kind.EXPIRED)


def record(reports: Sequence[Report]) -> list[Answer]:
    """Record a batch in one transaction; if that fails for a reason other than the database being away, record
    each report on its own, so that one bad report does not hold the others back.

    Returns the answers for the waiting web processes: every request the batch finished, once committed. Empty
    where that is not known (the batch finished some other way too, or went one report at a time): they look in
    the database then."""
    finishes = any(report.kind is not Kind.STARTED for report in reports)
    try:
        with transaction.atomic():
            answers = _record_all(reports)
            if finishes:  # to the web processes of every host, once this commits
                announce(answers)
            return answers
    except Exception as exc:
        if database_unreachable(exc):
            raise
        if len(reports) > 1:
            logger.exception("recording a batch of %d reports failed; recording them one at a time", len(reports))
        for report in reports:
            try:
                with transaction.atomic():
                    _record_all([report])
            except Exception as single:
                if database_unreachable(single):
                    raise
                with about_request(report.request_id):
                    logger.exception("could not record the %s of %s; dropped", report.kind.value, report.request_id)
        if finishes:
            announce([])  # committed one at a time: every host's pollers look
        return []


def _record_all(reports: Sequence[Report]) -> list[Answer]:
    """Record every report; returns the answers of the results, or nothing if a report of another kind moved a
    request (a failure, say): the waiters then look in the database."""
    answers: list[Answer] = []
    complete = True
    for kind in _ORDER:
        mine = [report for report in reports if report.kind is kind]
        if not mine:
            continue
        if kind is Kind.RESULT:
            recorded = recording.record_results([(report.request_id, report.args[0]) for report in mine])
            for report in mine:
                if report.request_id in recorded:
                    with about_request(report.request_id):
                        logger.info("recorded %s: %s", report.request_id, report.args[0]["label"])
            answers += recorded.values()
            continue
        for report in mine:
            with about_request(report.request_id):
                if _SINGLE[kind](report.request_id, *report.args):
                    logger.info("recorded %s %s", report.request_id, kind.value)
                    complete = complete and kind is Kind.STARTED  # a start finishes nothing
    return answers if complete else []


class ResultsConsumer:
    """One `step()` is one receive and what follows it; the command (`manage.py consume_results`) loops it."""

    def __init__(self, sqs: Any, queue_name: str, *, wait_seconds: int, batch_size: int = SQS_BATCH_SIZE) -> None:
        self.sqs = sqs
        self.queue_name = queue_name
        self.wait_seconds = wait_seconds
        self.batch_size = min(batch_size, SQS_BATCH_SIZE)
        self._url: str | None = None
        self._dead_letter_url: str | None = None
        # Receipts of reports recorded and not yet deleted: ten make a batch; the rest goes within
        # DELETE_WITHIN_SECONDS of the oldest, when a receive comes back empty, and when the consumer stops.
        self._recorded: Gathering[str] = Gathering(
            self._delete_all, within=DELETE_WITHIN_SECONDS, name="results-deletes"
        )

    def step(self) -> int:
        """Receive (long polling), record, delete what is due. Returns how many messages it handled."""
        url = self._queue_url()
        try:
            answer = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=self.batch_size,
                WaitTimeSeconds=self.wait_seconds,
                AttributeNames=["ApproximateReceiveCount"],
            )
        except Exception:
            self._url = None  # the endpoint may have come back empty: look the queue up again next time
            raise
        messages = answer.get("Messages", [])
        if not messages:
            self.flush()
            return 0
        reports: list[Report] = []
        done: list[str] = []
        for message in messages:
            try:
                reports += read(message)
            except UnreadableReport as exc:
                if self._refuse(message, str(exc)):
                    done.append(message["ReceiptHandle"])
        for receipt in done:  # refused: delete it even if recording the rest fails (no second letter)
            self._recorded.add(receipt)
        try:
            answers = record(reports)
        except Exception as exc:
            if database_unreachable(exc):
                self._put_back_soon(url, reports)
            raise
        nudge_waiters(answers)
        # Full batches: receives of seven deleted as they came cost two calls per fourteen, not one per ten.
        for receipt in _receipts(reports):
            self._recorded.add(receipt)
        return len(messages)

    def flush(self) -> None:
        """Delete every recorded report now (the command calls this when it stops)."""
        self._recorded.flush()

    def _delete_all(self, receipts: Sequence[str]) -> None:
        if not receipts:
            return
        try:
            url = self._queue_url()
            for batch in in_batches(receipts):
                self._delete(url, list(batch))
        except Exception:  # recorded all the same: they come back after their visibility timeout, as duplicates
            logger.warning("could not delete %d recorded reports", len(receipts), exc_info=True)

    def _refuse(self, message: dict[str, Any], why: str) -> bool:
        """Move a message this consumer cannot read to the dead-letter queue, with the reason in its attributes
        (classifier/recovery/dead_letters.py shows it and never sends it to the classify queue); whether it went.
        One that could not go stays, and comes back after its visibility timeout."""
        logger.error("refused a message on %s to the dead-letter queue: %s; body %.200s", self.queue_name, why,
                     message["Body"])  # fmt: skip
        try:
            if self._dead_letter_url is None:
                name = settings.SQS_QUEUE_PREFIX + settings.DEAD_LETTER_QUEUE
                self._dead_letter_url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
            self.sqs.send_message(
                QueueUrl=self._dead_letter_url,
                MessageBody=message["Body"],
                MessageAttributes=refusal(self.queue_name, why),
            )
        except Exception:
            self._dead_letter_url = None
            logger.warning("could not move the refused message to the dead-letter queue", exc_info=True)
            return False
        return True

    def _queue_url(self) -> str:
        if self._url is None:
            self._url = self.sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        return self._url

    def _put_back_soon(self, url: str, reports: Sequence[Report]) -> None:
        receives = {report.receipt: report.receives for report in reports}  # one entry per message
        entries = [
            {"Id": str(index), "ReceiptHandle": receipt,
             "VisibilityTimeout": round(backoff_seconds(count - 1, base=1.0, cap=OUTAGE_BACKOFF_CAP))}
            for index, (receipt, count) in enumerate(receives.items())
        ]  # fmt: skip
        try:
            self.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except Exception:  # they come back after the queue's visibility timeout instead
            logger.warning("could not put %d reports back early", len(entries), exc_info=True)

    def _delete(self, url: str, receipts: list[str]) -> None:
        if not receipts:
            return
        entries = [{"Id": str(index), "ReceiptHandle": receipt} for index, receipt in enumerate(receipts)]
        answer = self.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        for failed in answer.get("Failed", []):
            # Recorded all the same: the message comes back after its visibility timeout as a duplicate, ignored.
            logger.warning("could not delete a recorded report: %s", failed.get("Message", failed.get("Code")))


def _receipts(reports: Sequence[Report]) -> list[str]:
    """Each message's receipt once, however many of the reports it carried."""
    return list(dict.fromkeys(report.receipt for report in reports))
