"""SQS's batch size, the one rule every batching place here follows, and deleting received messages in batches for
whoever finished them: the worker's transport (fastpaths/kombu_sqs.py) and its pool processes' outboxes
(classifier/worker/outbox.py)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

# The most entries SQS takes in one call: SendMessageBatch, DeleteMessageBatch, ChangeMessageVisibilityBatch, and the
# most messages one ReceiveMessage brings.
SQS_BATCH_SIZE = 10

Item = TypeVar("Item")


def in_batches(items: Sequence[Item], size: int = SQS_BATCH_SIZE) -> list[Sequence[Item]]:
    """`items` in order, cut into runs of at most `size` (one SQS batch call each)."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def delete_finished(sqs: Any, messages: Iterable[tuple[str, str]]) -> int:
    """Delete these (receipt handle, queue URL) pairs; returns how many were deleted. Never raises: a message that
    was not deleted comes back after its visibility timeout, and its second result is ignored when recorded."""
    by_queue: dict[str, list[str]] = defaultdict(list)
    for receipt, queue_url in messages:
        by_queue[queue_url].append(receipt)
    deleted = 0
    for queue_url, receipts in by_queue.items():
        for batch in in_batches(receipts):
            entries = [{"Id": str(n), "ReceiptHandle": receipt} for n, receipt in enumerate(batch)]
            try:
                answer = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
            except Exception as exc:
                logger.warning("could not delete %d finished message(s) (%s)", len(entries), exc)
                continue
            deleted += len(answer.get("Successful", []))
            for failure in answer.get("Failed", []):
                logger.warning("a finished message was not deleted: %s", failure.get("Message") or failure)
    return deleted
