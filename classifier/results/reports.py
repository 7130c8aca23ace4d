"""What workers tell the web tier about a request, as messages on the results queue: the kinds, the sending (workers)
and the reading (the results consumer), in one place.

The messages are Celery task messages (protocol 2, fastpaths/celery_messages.py). A notice that a request is running
goes at once, one report per message whose id names the request (`send`: Celery's `send_task`, `<request id>.started`,
common/logs.py). A task's last report goes with its pool process's next batch (classifier/worker/outbox.py), and a
batch's reports go as one message (`encode`, a `classifier.record_reports` task message): one SQS message and one
delete per batch instead of one of each per report. No Celery worker runs them: `manage.py consume_results`
(classifier/results/consumer.py) reads both forms, ten messages at a time, and records what a receive brought
together.
"""

from __future__ import annotations

import enum
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings

from fastpaths import celery_messages

logger = logging.getLogger(__name__)


class Kind(enum.StrEnum):
    """Each kind's arguments after the request id, as the worker sends them."""

    STARTED = "classifier.record_started"  # worker, started_at: a worker has held it a while
    RESULT = "classifier.record_result"  # result (classifier/worker/job.py ResultPayload)
    FAILURE = "classifier.record_failure"  # reason, worker, finished_at: no retry will fix it
    EXPIRED = "classifier.record_expired"  # reason, worker, finished_at: taken after its time to live

    @property
    def short(self) -> str:
        return self.rsplit("_", 1)[-1]


def send(kind: Kind, request_id: str, *args: Any) -> None:
    """Put a report on the results queue now; its message id names the request (`<request id>.result`)."""
    current_app.send_task(kind.value, args=(request_id, *args), task_id=f"{request_id}.{kind.short}")


# The task name of a message that carries several reports, each as [kind, request id, *args].
SEVERAL = "classifier.record_reports"


@dataclass(frozen=True)
class Outgoing:
    """A report not yet sent: what `encode` puts in a message."""

    kind: Kind
    request_id: str
    args: tuple[Any, ...]


def encode(outgoing: Sequence[Outgoing]) -> str:
    """The SQS body of one message carrying these reports."""
    calls = [[report.kind.value, report.request_id, *report.args] for report in outgoing]
    # Celery's logs and monitors show a task message's `argsrepr`; the requests' ids say what this one carries, and
    # cost nothing beside a repr of every result (a tenth of a millisecond per report).
    ids = ", ".join(report.request_id for report in outgoing)
    return celery_messages.encode(SEVERAL, f"reports-{uuid.uuid4()}", [calls], settings.RESULTS_QUEUE,
                                argsrepr=f"[{ids}]")  # fmt: skip


@dataclass(frozen=True)
class Report:
    """One message received from the results queue."""

    kind: Kind
    request_id: str
    args: tuple[Any, ...]  # after the request id
    receipt: str  # SQS's handle, to delete the message or put it back
    receives: int  # how many times SQS has handed this message out, this time included


class UnreadableReport(ValueError):
    """A message on the results queue that is not one of our reports."""


def read(message: dict[str, Any]) -> list[Report]:
    """The reports a received SQS message carries: one (`send`) or several (`encode`)."""
    try:
        task = celery_messages.decode(message["Body"])
        calls = task.args[0] if task.name == SEVERAL else [[task.name, *task.args]]
        if not isinstance(calls, list) or not calls:
            raise TypeError("no reports in the message")
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
        return [_report(call, message["ReceiptHandle"], receives) for call in calls]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise UnreadableReport(f"not a report of ours: {exc!r}") from None


def _report(call: list[Any], receipt: str, receives: int) -> Report:
    name, request_id, *rest = call
    return Report(Kind(name), str(request_id), tuple(rest), receipt, receives)
