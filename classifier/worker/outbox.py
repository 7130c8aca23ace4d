"""A pool process's finished work, sent in batches: the batch's reports as one message on the results queue, then
their classify messages deleted with one DeleteMessageBatch.

A worker receives up to ten messages at once (fastpaths/kombu_sqs.py, Batches). Sending each report as its task ends,
and deleting each message as Celery acknowledges it, cost two SQS calls per image; here a received batch costs two
calls in all, and the results consumer receives and deletes one message for the batch's reports
(classifier/contract.py, `encode`). The order is what keeps at-least-once: a message is deleted only after
its report is on the results queue, by the process that sent it. The worker's main process leaves these messages
alone when it acknowledges them (the transport's `tasks_delete` option); until the batch goes, a message stays
hidden on the queue for the visibility timeout, and if this process dies first it comes back to another worker and
is classified again (the second report is ignored when it is recorded).

A batch goes when the last message of a receive has been handled (the transport marks it, so a lone request is
answered at once), when ten are waiting, after FLUSH_WITHIN_SECONDS at the latest, and when the process exits.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from classifier.contract import Kind, Outgoing, encode
from common.gathering import Gathering
from common.sqs_batches import delete_finished, in_batches
from fastpaths.botocore_sqs import sqs_client
from fastpaths.kombu_sqs import held_by_task

logger = logging.getLogger(__name__)

# SQS takes messages of up to 256 KiB; a batch whose reports would not fit (long failure reasons) goes as several.
MAX_MESSAGE_BYTES = 200_000
# Far inside the visibility timeout (10 s), and rarely reached: a receive's last message flushes the batch first.
FLUSH_WITHIN_SECONDS = 1.0


@dataclass(frozen=True)
class HeldMessage:
    """The classify message a task was given and deletes itself, as the transport passes it along
    (fastpaths/kombu_sqs.py)."""

    receipt: str
    queue_url: str
    ends_receive: bool  # the last message of its receive: nothing else of that batch is coming


def held_message(properties: dict[str, Any] | None) -> HeldMessage | None:
    """The message behind a running task, from the message properties Celery hands the task (`request.properties`),
    where the transport left its deletion to the task (fastpaths/kombu_sqs.py). None where the transport deletes it
    on acknowledgement (kombu's own, FAST_PATHS off) or outside a worker: the task's report must then go before the
    task returns."""
    held = held_by_task(properties)
    return HeldMessage(*held) if held is not None else None


@dataclass(frozen=True)
class _Finished:
    report: Outgoing | None  # to send first; None for nothing to send
    message: HeldMessage


def finish(held: HeldMessage | None, kind: Kind, request_id: str, *args: Any) -> None:
    """A task's last word on its request: the report goes with this pool process's next batch, and the classify
    message `held` is deleted after it. Without a held message (the transport deletes it when the task returns, or a
    task run outside a worker), it is sent now."""
    if held is None:
        send_now(kind, request_id, *args)
        return
    outbox().finish(held, Outgoing(kind, request_id, args))


def send_now(kind: Kind, request_id: str, *args: Any) -> None:
    """Put one report on the results queue now, on this process's client; raises if it could not be sent."""
    if not outbox().send_now(Outgoing(kind, request_id, args)):
        raise RuntimeError(f"the results queue refused the {kind} report of {request_id}")


class Outbox:
    def __init__(self, sqs: Any = None) -> None:
        self._sqs = sqs
        self._results_url: str | None = None
        self._gathering: Gathering[_Finished] = Gathering(
            self._send_all, within=FLUSH_WITHIN_SECONDS, name="outbox-flush"
        )

    def finish(self, message: HeldMessage, report: Outgoing | None) -> None:
        """`report` goes to the results queue, then `message` is deleted (see the module's docstring)."""
        self._gathering.add(_Finished(report, message), completes=message.ends_receive)

    def send_now(self, report: Outgoing) -> bool:
        """Send one report at once, outside any batch (a notice, a report whose message the transport deletes);
        whether the queue took it. Raises what the client raised."""
        return self._send_reports([report]) == [0]

    def flush(self) -> None:
        """Send what is waiting now; never raises (what fails comes back by its visibility timeout)."""
        self._gathering.flush()

    def _send_all(self, finished: Sequence[_Finished]) -> None:
        for part in in_batches(finished):
            self._send(list(part))

    def _send(self, batch: list[_Finished]) -> None:
        reporting = [finished for finished in batch if finished.report is not None]
        try:
            sent = self._send_reports([finished.report for finished in reporting if finished.report is not None])
        except Exception as exc:
            logger.warning("could not send %d report(s) (%s); their requests come back within the visibility "
                           "timeout", len(reporting), exc)  # fmt: skip
            sent = []
        done = [finished.message for finished in batch if finished.report is None]
        done += [reporting[index].message for index in sent]
        if done:
            delete_finished(self._client(), ((message.receipt, message.queue_url) for message in done))

    def _send_reports(self, outgoing: list[Outgoing]) -> list[int]:
        """Send the reports, as one message unless they would not fit in one; returns the indices of those sent."""
        if not outgoing:
            return []
        if self._results_url is None:
            name = settings.SQS_QUEUE_PREFIX + settings.RESULTS_QUEUE
            self._results_url = self._client().get_queue_url(QueueName=name)["QueueUrl"]
        sent: list[int] = []
        for indices, body in _messages(outgoing, range(len(outgoing))):
            try:
                answer = self._client().send_message_batch(
                    QueueUrl=self._results_url, Entries=[{"Id": "0", "MessageBody": body}]
                )
            except Exception:
                self._results_url = None  # the endpoint may have restarted without the queue: look it up again
                if not sent:
                    raise
                logger.warning("sent %d of a batch's %d reports", len(sent), len(outgoing), exc_info=True)
                break
            for failure in answer.get("Failed", []):
                logger.warning("%d report(s) not sent: %s", len(indices), failure.get("Message") or failure)
            if answer.get("Successful"):
                sent += indices
        return sent

    def _client(self) -> Any:
        if self._sqs is None:
            self._sqs = sqs_client()
        return self._sqs


def _messages(outgoing: list[Outgoing], indices: range) -> list[tuple[range, str]]:
    """The reports at `indices` as messages, each with the indices it carries: one message unless they would not
    fit in one (a long failure reason, say), then halves, and so on."""
    body = encode([outgoing[index] for index in indices])
    if len(body) <= MAX_MESSAGE_BYTES or len(indices) == 1:
        return [(indices, body)]
    half = len(indices) // 2
    return _messages(outgoing, indices[:half]) + _messages(outgoing, indices[half:])


_outboxes: dict[int, Outbox] = {}


def outbox() -> Outbox:
    """This process's outbox (a pool process forked from the worker gets a new one, with a client of its own)."""
    pid = os.getpid()
    if pid not in _outboxes:
        _outboxes[pid] = Outbox()
    return _outboxes[pid]
