"""Uploads that arrive together are stored together: one thread hand-over and one transaction for a group.

Each upload used to take an intake thread of its own for a moment (a hand-over from the event loop and back) and
commit its row alone. Under load the hand-overs, and the waking of threads around them, cost the web tier more CPU
than the upload's own work, and each SQLite commit rewrote the same table and index pages. Here uploads queue on
the event loop, holding neither a thread nor a database connection; at most INTAKE_CONCURRENCY intake threads take
them off that queue, up to INTAKE_GROUP_MAX at a time, and stay on it while more are waiting. The answers of a
group go back to the event loop in one call.

A group is accepted all or none (`accept_all`), which must not let one upload fail another: each upload is parsed
and validated alone first (its own 4xx), and if the group's insert fails for a reason other than an outage, its
uploads are accepted again one by one. An outage (the database or the image store down) refuses the whole group
with 503, as it would each upload alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

from django.conf import settings
from django.http import HttpRequest

from classifier.models import Classification

# What a group's thread does with the uploads it took: a list of outcomes in the same order, each the accepted
# (field, row) or the exception that upload's caller should see. Injected so the queueing can be tested alone.
Outcome: TypeAlias = "tuple[str, Classification] | BaseException"
AcceptGroup: TypeAlias = "Callable[[list[Upload]], list[Outcome]]"


@dataclass
class Upload:
    """One upload waiting for an intake thread: its request, the fields to look for, and the caller's context (its
    request id for the logs)."""

    request: HttpRequest
    fields: tuple[str, ...]
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


class GroupCommit:
    """The upload queue of one event loop and the intake threads that empty it."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        start_thread: Callable[[Callable[[], None]], None],
        accept_group: AcceptGroup,
        threads: int,
        group_max: int,
    ) -> None:
        self._loop = loop
        self._start_thread = start_thread
        self._accept_group = accept_group
        self._threads = threads
        self._group_max = group_max
        self._lock = threading.Lock()
        self._waiting: deque[tuple[Upload, asyncio.Future[tuple[str, Classification]]]] = deque()
        self._running = 0  # intake threads taking uploads off this queue now

    async def accept(self, upload: Upload) -> tuple[str, Classification]:
        future: asyncio.Future[tuple[str, Classification]] = self._loop.create_future()
        with self._lock:
            self._waiting.append((upload, future))
            start = self._running < self._threads
            if start:
                self._running += 1
        if start:
            try:
                self._start_thread(self._take_groups)
            except BaseException:  # no thread to be had (the process is shutting down): this caller hears why
                with self._lock:
                    self._running -= 1
                    if (upload, future) in self._waiting:
                        self._waiting.remove((upload, future))
                raise
        return await future

    def _take_groups(self) -> None:
        """On an intake thread: accept groups until no upload is waiting."""
        while True:
            with self._lock:
                group = [self._waiting.popleft() for _ in range(min(self._group_max, len(self._waiting)))]
                if not group:
                    self._running -= 1
                    return
            try:
                outcomes = self._accept_group([upload for upload, _ in group])
            except BaseException as exc:  # a fault of the group's own code: every caller hears of it
                outcomes = [exc] * len(group)
            answers = [(future, outcome) for (_, future), outcome in zip(group, outcomes, strict=True)]
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for these answers any more
                self._loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[tuple[asyncio.Future[tuple[str, Classification]], Outcome]]) -> None:
    for future, outcome in answers:
        if future.done():  # the caller went away (a disconnect cancels its task): the upload was accepted all the same
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GroupCommit] = weakref.WeakKeyDictionary()


def for_this_loop(start_thread: Callable[[Callable[[], None]], None], accept_group: AcceptGroup) -> GroupCommit:
    loop = asyncio.get_running_loop()
    group_commit = _by_loop.get(loop)
    if group_commit is None:
        group_commit = _by_loop[loop] = GroupCommit(
            loop, start_thread, accept_group, settings.INTAKE_CONCURRENCY, settings.INTAKE_GROUP_MAX
        )
    return group_commit
