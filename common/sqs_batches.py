"""Deleting received SQS messages ten per call (DeleteMessageBatch's most), for whoever finished them: the worker's
transport (project/broker.py) and its pool processes' outboxes (classifier/worker/outbox.py)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

MAX_BATCH = 10


def delete_finished(sqs: Any, messages: Iterable[tuple[str, str]]) -> int:
    """Delete these (receipt handle, queue URL) pairs; returns how many were deleted. Never raises: a message that
    was not deleted comes back after its visibility timeout, and its second result is ignored when recorded."""
    by_queue: dict[str, list[str]] = defaultdict(list)
    for receipt, queue_url in messages:
        by_queue[queue_url].append(receipt)
    deleted = 0
    for queue_url, receipts in by_queue.items():
        for start in range(0, len(receipts), MAX_BATCH):
            entries = [{"Id": str(n), "ReceiptHandle": receipt}
                       for n, receipt in enumerate(receipts[start : start + MAX_BATCH])]  # fmt: skip
            try:
                answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            except Exception as exc:
                logger.warning("could not delete %d finished message(s) (%s)", len(entries), exc)
                continue
            deleted += len(answer.get("Successful", []))
            for failure in answer.get("Failed", []):
                logger.warning("a finished message was not deleted: %s", failure.get("Message") or failure)
    return deleted
