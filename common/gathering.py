"""Gathering items for one batch call: the rule "up to SQS_BATCH_SIZE, or when the batch is due, or after a delay",
in one place.

A batch is taken whole when it holds `size` items, when the item just added says its batch is complete (a receive's
last message), when `flush()` is called, and at the latest `within` seconds after its oldest item arrived (on a timer
thread of its own). Whoever takes it gets the items in arrival order and does the sending; nothing here waits on I/O
while holding the lock. Used by a pool process's outbox (classifier/worker/outbox.py), the hand-over of a receive's
requests to the pool (fastpaths/celery_pool.py) and the results consumer's deletes (classifier/results/consumer.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from common.deferred import Deferred, DeferredCalls
from common.sqs_batches import SQS_BATCH_SIZE

Item = TypeVar("Item")


class Gathering(Generic[Item]):
    def __init__(
        self, take: Callable[[Sequence[Item]], None], *, within: float, name: str, size: int = SQS_BATCH_SIZE
    ) -> None:
        """`take` gets each batch (at most `size` items only when added one at a time) and must not raise."""
        self._take = take
        self._within = within
        self._size = size
        self._items: list[Item] = []
        self._oldest = 0.0
        self._lock = threading.Lock()  # the adding threads' and the timer's
        self._timer: Deferred | None = None
        self._timers = DeferredCalls(name)

    def add(self, item: Item, *, completes: bool = False) -> None:
        """Add an item; `completes`: nothing else of its batch is coming, so the batch goes now."""
        with self._lock:
            if not self._items:
                self._oldest = time.monotonic()
            self._items.append(item)
            due = completes or len(self._items) >= self._size
            if not due and self._timer is None:
                delay = max(0.0, self._oldest + self._within - time.monotonic())
                self._timer = self._timers.later(delay, self.flush)
        if due:
            self.flush()

    def flush(self) -> None:
        """Take what is gathered now."""
        with self._lock:
            items, self._items = self._items, []
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        if items:
            self._take(items)

    def __len__(self) -> int:
        return len(self._items)
