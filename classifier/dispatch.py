"""Sending a request to the classify queue: the upload's own send, the sweeper's re-sends, an operator's re-run.

The message carries the request's id and its input key, never the row: workers have no database.

Uploads go out through one sender thread per web process, in batches (common/batch_sender.py): a burst of uploads
costs one SendMessageBatch per ten instead of one SendMessage (and a Celery publish) each, on the request's thread.
A message the batch could not send goes the one-at-a-time way, with Celery's publish retries; if that fails too, the
row stays queued and the sweeper sends it again: the database is the truth. The batch's messages are Celery task
messages built here (fastpaths/celery_messages.py); with that fast path off, every send is Celery's own publish.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings

from classifier.models import Classification
from classifier.tasks import classify
from common.batch_sender import BatchSender
from common.logs import about_request
from fastpaths import celery_messages
from fastpaths.botocore_sqs import sqs_client

logger = logging.getLogger(__name__)


def send_for_classification(row: Classification) -> None:
    """Send now, through Celery. The task's id is the request's, so Celery's own log lines about it name the request
    (common/logs.py)."""
    with about_request(row.id):
        classify.apply_async(args=_arguments(row), task_id=str(row.id))
        logger.info("queued %s (%s)", row.id, row.original_name)


def queue_for_classification(row: Classification) -> None:
    """Send with the next batch; never raises (see the module's docstring)."""
    _batches.put(row)


def _arguments(row: Classification) -> list[Any]:
    expires_at = row.expires_at.isoformat() if row.expires_at is not None else None
    return [str(row.id), row.input_key, row.original_name, expires_at]


class _ClassifyQueue:
    """The classify queue as one web process sends to it: one client, the queue's URL looked up once."""

    def __init__(self) -> None:
        self._sqs: Any = None
        self._url: str | None = None

    def send(self, rows: Sequence[Classification]) -> None:
        # With the celery_messages fast path off, each goes through Celery's own publish (from this thread still).
        unsent = self._send_batch(rows) if "celery_messages" in settings.FAST_PATHS else set(range(len(rows)))
        for index, row in enumerate(rows):
            if index not in unsent:
                with about_request(row.id):
                    logger.info("queued %s (%s)", row.id, row.original_name)
                continue
            try:
                send_for_classification(row)
            except Exception:
                with about_request(row.id):
                    logger.warning("could not send %s; it stays queued for the sweeper", row.id, exc_info=True)

    def _send_batch(self, rows: Sequence[Classification]) -> set[int]:
        """One SendMessageBatch of Celery task messages built here (fastpaths/celery_messages.py); the indices of
        the rows it did not send."""
        options = celery_messages.options_of(classify)
        entries = [
            {"Id": str(index), "MessageBody": celery_messages.encode(classify.name, str(row.id), _arguments(row),
                                                                   settings.CLASSIFY_QUEUE, **options)}
            for index, row in enumerate(rows)
        ]  # fmt: skip
        try:
            if self._sqs is None:
                self._sqs = sqs_client()
            if self._url is None:
                name = settings.SQS_QUEUE_PREFIX + settings.CLASSIFY_QUEUE
                self._url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
        except Exception as exc:
            logger.warning("could not send a batch of %d classify message(s) (%s); sending them one by one",
                           len(rows), exc)  # fmt: skip
            self._url = None  # the endpoint may have restarted without the queue: look it up again next time
            return set(range(len(rows)))
        return {int(failure["Id"]) for failure in answer.get("Failed", [])}


# Under load a batch may wait up to 20 ms to fill: batches grow (fewer calls, less web CPU; bench/README.md has the
# measurement), and 20 ms is small beside a request's wait in a queue that deep; an upload after a quiet spell still
# goes at once. The thread starts with the first upload: importing this module starts nothing.
SEND_LINGER_SECONDS = 0.02
_batches = BatchSender(_ClassifyQueue().send, name="classify-sender", linger=SEND_LINGER_SECONDS)
