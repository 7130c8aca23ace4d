"""Waiting for results without a thread per waiter.

Synchronous callers (the CSE546 `POST /`, the web form) park on an asyncio future. One poller per event loop asks
the database, in a single query per tick, which of the awaited requests have finished, and wakes their waiters.
200 waiters cost one small query every RESULT_POLL_SECONDS, not 200 threads. The results consumer nudges the poller
when it has recorded results (classifier/results/wakeup.py), so a result is heard of at once, not half a tick later.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async

from classifier.models import Classification
from classifier.results.wakeup import Listener
from common.connections import keep_unless_broken

logger = logging.getLogger(__name__)


# What a waiter's row carries: what an answer is made of. Reading another field of it would be a query on the event
# loop, which Django refuses (SynchronousOnlyOperation); loading the whole row cost the poller 40% more per query.
ANSWER_FIELDS = ("id", "status", "label", "error", "original_name")


def _finished_rows(ids: list[uuid.UUID]) -> list[Classification]:
    keep_unless_broken()  # the poller's thread outlives requests, and keeps one connection
    return [row for row in Classification.objects.with_ids(ids).only(*ANSWER_FIELDS) if row.is_finished]


class ResultWaiter:
    def __init__(self, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._waiters: dict[uuid.UUID, list[asyncio.Future[Classification]]] = defaultdict(list)
        self._poller: asyncio.Task[None] | None = None
        # The poller outlives the request that started it, so it must not use that request's thread-sensitive
        # executor (which shuts down with the request): it gets one thread of its own, and so one DB connection.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="result-poller")
        self._query = sync_to_async(_finished_rows, thread_sensitive=False, executor=self._executor)
        self._nudges = Listener()

    async def wait(self, request_id: uuid.UUID, timeout: float) -> Classification | None:
        """The finished row (ANSWER_FIELDS only), or None when `timeout` seconds pass first."""
        future: asyncio.Future[Classification] = asyncio.get_running_loop().create_future()
        self._waiters[request_id].append(future)
        if self._poller is None or self._poller.done():
            self._nudges.start()
            self._poller = asyncio.create_task(self._poll(), context=contextvars.Context())
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            self._forget(request_id, future)

    def _forget(self, request_id: uuid.UUID, future: asyncio.Future[Classification]) -> None:
        futures = self._waiters.get(request_id)
        if futures is not None and future in futures:
            futures.remove(future)
            if not futures:
                del self._waiters[request_id]

    async def _poll(self) -> None:
        while self._waiters:
            self._nudges.woken.clear()  # a nudge from here on means results newer than this query
            try:
                rows = await self._query(list(self._waiters))
            except Exception:  # a database hiccup must not strand the waiters: log and poll again
                logger.exception("polling for finished requests failed")
                rows = []
            for row in rows:
                for future in self._waiters.pop(row.pk, []):
                    if not future.done():
                        future.set_result(row)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudges.woken.wait(), self.poll_seconds)


_waiters_by_loop: dict[asyncio.AbstractEventLoop, ResultWaiter] = {}


def waiter_for_this_loop(poll_seconds: float) -> ResultWaiter:
    """The waiter of the running event loop (one per server process; a test client may bring its own loop)."""
    loop = asyncio.get_running_loop()
    waiter = _waiters_by_loop.get(loop)
    if waiter is None:
        for stale in [known for known in _waiters_by_loop if known.is_closed()]:
            del _waiters_by_loop[stale]
        waiter = _waiters_by_loop[loop] = ResultWaiter(poll_seconds)
    return waiter
