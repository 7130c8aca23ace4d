"""A pool process's finished work, sent in batches: the reports with one SendMessageBatch, then their classify
messages deleted with one DeleteMessageBatch.

A worker receives up to ten messages at once (project/broker.py, Batches). Sending each report as its task ends,
and deleting each message as Celery acknowledges it, cost two SQS calls per image; here a received batch costs two
calls in all. The order is what keeps at-least-once: a message is deleted only after its report is on the results
queue, by the process that sent it. The worker's main process leaves these messages alone when it acknowledges them
(the transport's `tasks_delete` option); until the batch goes, a message stays hidden on the queue for the
visibility timeout, and if this process dies first it comes back to another worker and is classified again (the
second report is ignored when it is recorded).

A batch goes when the last message of a receive has been handled (the transport marks it, so a lone request is
answered at once), when ten are waiting, after FLUSH_WITHIN_SECONDS at the latest, and when the process exits.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from common import aws
from common.deferred import Deferred, DeferredCalls
from common.sqs_batches import delete_finished

logger = logging.getLogger(__name__)

MAX_BATCH = 10  # SQS's most per SendMessageBatch and DeleteMessageBatch
# Far inside the visibility timeout (30 s), and rarely reached: a receive's last message flushes the batch first.
FLUSH_WITHIN_SECONDS = 1.0


@dataclass(frozen=True)
class HeldMessage:
    """The classify message a task was given, as the transport passes it along (project/broker.py)."""

    receipt: str
    queue_url: str
    ends_receive: bool  # the last message of its receive: nothing else of that batch is coming


def held_message(properties: dict[str, Any] | None) -> HeldMessage | None:
    """The message behind a running task, from the message properties Celery hands the task (`request.properties`)."""
    info = (properties or {}).get("delivery_info") or {}
    try:
        return HeldMessage(info["sqs_message"]["ReceiptHandle"], info["sqs_queue"], bool(info.get("ends_receive")))
    except (KeyError, TypeError):
        return None


@dataclass(frozen=True)
class _Finished:
    report: tuple[str, str] | None  # (message id, SQS body) to send first; None for nothing to send
    message: HeldMessage


class Outbox:
    def __init__(self, sqs: Any = None) -> None:
        self._sqs = sqs
        self._results_url: str | None = None
        self._pending: list[_Finished] = []
        self._oldest = 0.0
        self._lock = threading.Lock()  # the task's thread and the deferred flush's
        self._flush_due: Deferred | None = None
        self._flushes = DeferredCalls("outbox-flush")

    def finish(self, message: HeldMessage, report: tuple[str, str] | None) -> None:
        """`report` (message id, body) goes to the results queue, then `message` is deleted (see the docstring)."""
        with self._lock:
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(_Finished(report, message))
            due = message.ends_receive or len(self._pending) >= MAX_BATCH
        if due:
            self.flush()
        else:
            self._flush_later()

    def flush(self) -> None:
        """Send what is waiting now; never raises (what fails comes back by its visibility timeout)."""
        with self._lock:
            batch, self._pending = self._pending, []
            if self._flush_due is not None:
                self._flush_due.cancel()
                self._flush_due = None
        for start in range(0, len(batch), MAX_BATCH):
            self._send(batch[start : start + MAX_BATCH])

    def _flush_later(self) -> None:
        with self._lock:
            if self._flush_due is not None or not self._pending:
                return
            delay = max(0.0, self._oldest + FLUSH_WITHIN_SECONDS - time.monotonic())
            self._flush_due = self._flushes.later(delay, self.flush)

    def _send(self, batch: list[_Finished]) -> None:
        reports = [finished for finished in batch if finished.report is not None]
        try:
            sent = self._send_reports(reports) if reports else set()
        except Exception as exc:
            logger.warning("could not send %d report(s) (%s); their requests come back within the visibility "
                           "timeout", len(reports), exc)  # fmt: skip
            sent = set()
        done = [finished.message for finished in batch if finished.report is None or finished.report[0] in sent]
        if done:
            delete_finished(self._client(), ((message.receipt, message.queue_url) for message in done))

    def _send_reports(self, reports: list[_Finished]) -> set[str]:
        """The message ids of the reports now on the results queue."""
        if self._results_url is None:
            name = settings.SQS_QUEUE_PREFIX + settings.RESULTS_QUEUE
            self._results_url = self._client().get_queue_url(QueueName=name)["QueueUrl"]
        entries = [{"Id": str(n), "MessageBody": finished.report[1]}
                   for n, finished in enumerate(reports) if finished.report is not None]  # fmt: skip
        try:
            answer = self._client().send_message_batch(QueueUrl=self._results_url, Entries=entries)
        except Exception:
            self._results_url = None  # the endpoint may have restarted without the queue: look it up again
            raise
        for failure in answer.get("Failed", []):
            logger.warning("a report was not sent: %s", failure.get("Message") or failure)
        ok = {int(entry["Id"]) for entry in answer.get("Successful", [])}
        return {finished.report[0] for n, finished in enumerate(reports) if n in ok and finished.report is not None}

    def _client(self) -> Any:
        if self._sqs is None:
            self._sqs = aws.sqs()
        return self._sqs


_outboxes: dict[int, Outbox] = {}


def outbox() -> Outbox:
    """This process's outbox (a pool process forked from the worker gets a new one, with a client of its own)."""
    pid = os.getpid()
    if pid not in _outboxes:
        _outboxes[pid] = Outbox()
    return _outboxes[pid]
