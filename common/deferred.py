"""Calls to make later, on one thread per `DeferredCalls`: `calls.later(seconds, call)` and the handle's `cancel()`.

A worker schedules a call for every request it takes (the "running" notice) and cancels it a few milliseconds later
when the request is done. `threading.Timer` starts and joins a thread each time, which costs far more CPU than the
call itself. One thread waits for the earliest call that is still wanted; a cancelled
call is only forgotten, so a cancel wakes nobody and costs no thread.

Calls on one `DeferredCalls` run one at a time, so a call that blocks (an SQS call to an endpoint that is down)
delays the ones after it: work that must not wait for another's gets a `DeferredCalls` of its own. The thread starts
with the first call; a process forked from one that has it (a prefork pool's child) starts its own.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Deferred:
    """A call waiting for its time; `cancel()` before then and it is never made."""

    __slots__ = ("_calls", "_seq")

    def __init__(self, calls: _Waiting, seq: int) -> None:
        self._calls = calls
        self._seq = seq

    def cancel(self) -> None:
        """Forget the call; one already running goes on to its end."""
        self._calls.forget(self._seq)


class DeferredCalls:
    """One thread, in each process that uses it, making calls at their time."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pid = 0
        self._waiting: _Waiting | None = None
        self._starting = threading.Lock()

    def later(self, seconds: float, call: Callable[[], object]) -> Deferred:
        """Make `call()` in `seconds` on this object's thread, unless cancelled first."""
        waiting = self._waiting
        if waiting is None or self._pid != os.getpid():
            waiting = self._start()
        return waiting.add(seconds, call)

    def _start(self) -> _Waiting:
        if self._pid != os.getpid():  # a forked child: the parent's thread and lock did not come along
            self._starting, self._waiting, self._pid = threading.Lock(), None, os.getpid()
        with self._starting:
            if self._waiting is None:
                self._waiting = _Waiting(self.name)
            return self._waiting


class _Waiting:
    def __init__(self, name: str) -> None:
        self._wanted: dict[int, Callable[[], object]] = {}
        self._due: list[tuple[float, int]] = []  # (when, seq), a heap; cancelled ones stay until they come up
        self._seq = itertools.count()
        self._changed = threading.Condition(threading.Lock())
        self._wakes_at = float("inf")  # when the thread's current wait ends
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def add(self, seconds: float, call: Callable[[], object]) -> Deferred:
        when = time.monotonic() + seconds
        with self._changed:
            seq = next(self._seq)
            self._wanted[seq] = call
            heapq.heappush(self._due, (when, seq))
            if when < self._wakes_at:  # otherwise the thread is up in time anyway: no wake-up to pay for
                self._changed.notify()
        return Deferred(self, seq)

    def forget(self, seq: int) -> None:
        with self._changed:
            self._wanted.pop(seq, None)

    def _run(self) -> None:
        while True:
            call = self._next()
            try:
                call()
            except Exception:  # one failing call must not stop the calls after it
                logger.exception("a deferred call failed")

    def _next(self) -> Callable[[], object]:
        with self._changed:
            while True:
                while self._due and self._due[0][1] not in self._wanted:
                    heapq.heappop(self._due)  # cancelled
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    _, seq = heapq.heappop(self._due)
                    self._wakes_at = float("-inf")  # not waiting: the heap is looked at again before the next wait
                    return self._wanted.pop(seq)
                self._wakes_at = self._due[0][0] if self._due else float("inf")
                self._changed.wait(None if not self._due else self._wakes_at - now)
