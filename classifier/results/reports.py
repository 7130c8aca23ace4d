"""What workers tell the web tier about a request, as messages on the results queue: the kinds, the sending (workers)
and the reading (the results consumer), in one place.

The messages are Celery task messages (protocol 2, common/task_messages.py) whose message ids name the request
(`<request id>.result`, common/logs.py). A task's last report goes out with its pool process's next batch
(`finish`); a notice that a request is running goes at once (`send`, Celery's `send_task`). No Celery worker runs
them: `manage.py consume_results` (classifier/results/consumer.py) reads them ten at a time and records each batch
together.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings

from classifier.worker.outbox import HeldMessage, outbox
from common import task_messages

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


def finish(held: HeldMessage | None, kind: Kind, request_id: str, *args: Any) -> None:
    """A task's last word on its request: the report goes out with its pool process's next batch, and the classify
    message `held` is deleted after it (classifier/worker/outbox.py). Without a held message (a task run outside a
    worker), the report is sent now."""
    if held is None:
        send(kind, request_id, *args)
        return
    task_id = f"{request_id}.{kind.short}"
    body = task_messages.encode(kind.value, task_id, [request_id, *args], settings.RESULTS_QUEUE)
    outbox().finish(held, (task_id, body))


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


def read(message: dict[str, Any]) -> Report:
    """A received SQS message as a report (common/task_messages.py)."""
    try:
        task = task_messages.decode(message["Body"])
        kind = Kind(task.name)
        request_id, *rest = task.args
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise UnreadableReport(f"not a report of ours: {exc!r}") from None
    receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
    return Report(kind, str(request_id), tuple(rest), message["ReceiptHandle"], receives)
