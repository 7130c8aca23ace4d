"""Waiting for results without a thread per waiter.

Synchronous callers (the CSE546 `POST /`, the web form) park on an asyncio future. One poller per event loop wakes
them: with the answers the results consumer pushes after each recorded batch (classifier/results/wakeup.py), and by
asking the database, in a single query, which of the awaited requests have finished. 200 waiters cost one small
query per look, not 200 threads.

Pushes come from the consumer on this host (a datagram) and from every host's (PostgreSQL's NOTIFY,
classifier/results/announce.py). It looks when a push asks it to, and on a timer: every RESULT_POLL_SECONDS at
first, less often while the pushes cover everything (PollPace). That timed look is what finds a result no push
brought (a lost nudge, a request the sweeper expired).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS

from classifier.models import Classification
from classifier.results.announce import DatabaseListener
from classifier.results.wakeup import Answer, Listener
from common.connections import keep_unless_broken

logger = logging.getLogger(__name__)


# What a waiter's row carries: what an answer is made of. Reading another field of it would be a query on the event
# loop, which Django refuses (SynchronousOnlyOperation); loading the whole row cost the poller much more per query.
ANSWER_FIELDS = ("id", "status", "label", "error", "original_name")
# The same fields in the model's order, as Model.from_db takes them.
_ANSWER_ATTNAMES = [field.attname for field in Classification._meta.concrete_fields if field.name in ANSWER_FIELDS]

# The longest a timed look waits while pushes cover every result: a safety net, not the way results arrive.
SAFETY_POLL_SECONDS = 1.0


def _finished_rows(ids: list[uuid.UUID]) -> list[Classification]:
    keep_unless_broken()  # the poller's thread outlives requests, and keeps one connection
    return [row for row in Classification.objects.with_ids(ids).only(*ANSWER_FIELDS) if row.is_finished]


def answer_of(**fields: object) -> Answer:
    """What the results consumer pushes for one request it recorded: ANSWER_FIELDS, as text."""
    return {name: str(fields[name]) for name in ANSWER_FIELDS}


def pushed_row(answer: Answer) -> Classification | None:
    """The row as `_finished_rows` would load it, from an answer the results consumer pushed; None if it is not one."""
    try:
        values = [uuid.UUID(answer["id"]) if name == "id" else answer[name] for name in _ANSWER_ATTNAMES]
    except (KeyError, ValueError):
        return None
    row = Classification.from_db(DEFAULT_DB_ALIAS, _ANSWER_ATTNAMES, values)
    return row if row.is_finished else None


class PollPace:
    """How long the poller waits for a nudge before it looks in the database anyway.

    `base` (RESULT_POLL_SECONDS) while nothing shows that pushes arrive here, and again as soon as a timed look finds
    a result no push brought; once pushes arrive, each timed look that finds nothing doubles the wait, up to
    `longest`. Under load on one host the timed looks had been most of the poller's queries, all finding nothing.
    """

    def __init__(self, base: float, longest: float = SAFETY_POLL_SECONDS) -> None:
        self.base = base
        self.longest = max(base, longest)
        self.seconds = base
        self._pushes_arrive = False

    def pushed(self) -> None:
        self._pushes_arrive = True

    def looked_on_time(self, found: int) -> None:
        if found:  # results no push brought: from here on, look as often as at first
            self.seconds, self._pushes_arrive = self.base, False
        elif self._pushes_arrive:
            self.seconds = min(self.longest, self.seconds * 2)


class ResultWaiter:
    def __init__(self, poll_seconds: float) -> None:
        self._waiters: dict[uuid.UUID, list[asyncio.Future[Classification]]] = defaultdict(list)
        self._poller: asyncio.Task[None] | None = None
        # The poller outlives the request that started it, so it must not use that request's thread-sensitive
        # executor (which shuts down with the request): it gets one thread of its own, and so one DB connection.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="result-poller")
        self._query = sync_to_async(_finished_rows, thread_sensitive=False, executor=self._executor)
        self._nudges = Listener()
        self._announcements = DatabaseListener(self._nudges)  # from the other hosts' results consumers
        self.pace = PollPace(poll_seconds)

    async def wait(self, request_id: uuid.UUID, timeout: float) -> Classification | None:
        """The finished row (ANSWER_FIELDS only), or None when `timeout` seconds pass first."""
        future: asyncio.Future[Classification] = asyncio.get_running_loop().create_future()
        self._waiters[request_id].append(future)
        if self._poller is None or self._poller.done():
            self._nudges.start()
            self._announcements.start()
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
        look, on_time = True, False  # a new poller looks at once
        while self._waiters:
            if look:
                self._nudges.woken.clear()  # a nudge from here on means results newer than this query
                try:
                    rows = await self._query(list(self._waiters))
                except Exception:  # a database hiccup must not strand the waiters: log and poll again
                    logger.exception("polling for finished requests failed")
                    rows = []
                found = self._answer(rows)
                if on_time:
                    self.pace.looked_on_time(found)
            if not self._waiters:
                break
            on_time = False
            try:
                await asyncio.wait_for(self._nudges.woken.wait(), self.pace.seconds)
            except TimeoutError:
                on_time = True
            self._nudges.woken.clear()
            pushed, asked = self._nudges.take()
            if pushed:
                self.pace.pushed()
                self._answer(row for row in map(pushed_row, pushed) if row is not None)
            look = on_time or asked

    def _answer(self, rows: Iterable[Classification]) -> int:
        """Wake the waiters of these finished rows; returns how many requests were waited for."""
        answered = 0
        for row in rows:
            futures = self._waiters.pop(row.pk, [])
            answered += bool(futures)
            for future in futures:
                if not future.done():
                    future.set_result(row)
        return answered


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
