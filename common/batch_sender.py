"""Sending from one thread, in batches: whatever arrived while the last batch was on its way goes out together with
the next call.

An item after a quiet spell leaves at once (a caller waiting for its answer pays nothing). Under load (the last
send ended less than `linger` ago) the next batch may wait up to `linger` to fill: each call costs the sender much
the same CPU (building, signing, HTTP), whatever it carries. Either way each request's thread only appends to a list
instead of making an HTTP call of its own.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from common.sqs_batches import SQS_BATCH_SIZE

logger = logging.getLogger(__name__)

Item = TypeVar("Item")


class BatchSender(Generic[Item]):
    def __init__(
        self, send: Callable[[Sequence[Item]], None], *, name: str, max_batch: int = SQS_BATCH_SIZE, linger: float = 0.0
    ) -> None:
        """`send` takes up to `max_batch` items and must not raise: what it could not send is its own to handle."""
        self._send = send
        self._name = name
        self._max_batch = max_batch
        self._linger = linger
        self._last_sent = float("-inf")  # when the last send ended (monotonic)
        self._pending: list[Item] = []
        self._busy = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def put(self, item: Item) -> None:
        with self._changed:
            self._pending.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
                atexit.register(self.flush)
            self._changed.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything put so far has been sent (or handed to `send`); False if `timeout` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pending))
                if time.monotonic() - self._last_sent < self._linger:  # under load: let the batch fill a little
                    self._changed.wait_for(lambda: len(self._pending) >= self._max_batch, self._linger)
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                self._busy = True
            try:
                self._send(batch)
            except Exception:  # `send` promised not to raise; a bug there must not end the thread
                logger.exception("%s: sending a batch of %d failed", self._name, len(batch))
            finally:
                with self._changed:
                    self._busy = False
                    self._last_sent = time.monotonic()
                    self._changed.notify_all()
