"""Handing a receive's classify requests to a pool process as one job, where Celery makes a job of each.

Celery hands every task to a prefork pool process on its own: pickled into a pipe, taken, accepted, run, its
result pickled back, each step waking the worker's threads and the pool process in turn. Through the stack that
hand-over cost the workers about 0.8 ms of CPU per image, beside the model's 12 (the `solo` pool, which has none,
took the workers from 2.3 to 1.5 ms per image beyond the model; it has no hard time limit and no pool process to
lose, so it is no choice for production). A worker receives up to ten messages at once (project/broker.py); here the
requests of one receive go to a pool process together, as one job that runs each through Celery's own tracer in
turn, and the worker's main process then makes Celery's own calls for each request, as if it had run alone
(accepted, then succeeded or failed, acknowledged).

What does not change:
- A request that arrives alone (a quiet queue) goes the way Celery sends it, at once.
- Each request runs through Celery's tracer: its signals, its retries, its failure and its report are its own.
- A job that fails as a whole (its pool process died, from a poison image say, or it ran past TASK_TIME_LIMIT) fails
  none of its requests: they go to the pool again, one per job, so only the request that kills a process or overruns
  is charged with it (a receive towards the dead-letter queue, a time limit), as before. Such a request pays twice
  (with its job, then alone), and the others are classified again: reports already sent are ignored when recorded.
  Alone, each sends its report as it ends, so the request that kills a process again takes no other's along.
- A job has one request's hard time limit and no soft one: a soft limit would fall on whichever request was running
  when the job as a whole reached it, and a request on its own again gets both of its own.

A pool process sends its reports when its job ends (classifier/worker/outbox.py); where a pool has several processes,
a receive is shared among them. A request not marked as the last of its receive (one whose countdown ran out on the
timer, say) waits at most GATHER_SECONDS for others.
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
from collections.abc import Callable, Sequence
from functools import cache, partial
from typing import Any

from celery import bootsteps, current_app
from celery.app.trace import fast_trace_task, trace_task_ret
from celery.concurrency import prefork

from classifier.worker import ahead
from classifier.worker.outbox import held_message, outbox
from common.deferred import Deferred, DeferredCalls

logger = logging.getLogger(__name__)

TASK = "classifier.classify"
MAX_JOB = 10  # a receive's most (WORKER_PREFETCH's)
GATHER_SECONDS = 0.05

# What the pool process is given for each request: Celery's own arguments to its tracer.
Traced = tuple[str, str, dict[str, Any], Any, str, str]


def run_requests(fast: bool, traced: list[Traced]) -> list[Any]:
    """In the pool process: the job's images classified back to back (classifier/worker/ahead.py), then each request
    through Celery's tracer, as Celery would run it alone; then this job's reports go out."""
    trace = fast_trace_task if fast else trace_task_ret
    try:
        ahead.classify_job([request_dict for _, _, request_dict, *_ in traced], _parameters())
        return [trace(*arguments) for arguments in traced]
    finally:
        ahead.forget()
        outbox().flush()


@cache
def _parameters() -> tuple[str, ...]:
    """The classify task's parameters, in order: how its messages' positional arguments are named."""
    return tuple(inspect.signature(current_app.tasks[TASK].run).parameters)


def ends_receive(request: Any) -> bool:
    """Whether the transport marked this request's message as the last of its receive (project/broker.py)."""
    held = held_message(request.request_dict.get("properties"))
    return held is not None and held.ends_receive


def shares(requests: Sequence[Any], processes: int) -> list[list[Any]]:
    """The requests split as evenly as they go among up to `processes` jobs, in order."""
    size = math.ceil(len(requests) / max(1, min(processes, len(requests))))
    return [list(requests[start : start + size]) for start in range(0, len(requests), size)]


class HandOver:
    """Stands in for the worker's `on_task_request` (one request, one job): classify requests are gathered until their
    receive is all there, then handed over together (see the module's docstring)."""

    def __init__(self, hand: Callable[[Any], None], consumer: Any) -> None:
        self._hand = hand  # Celery's own
        self._consumer = consumer
        self._waiting: list[Any] = []
        self._lock = threading.Lock()
        self._deferred = DeferredCalls("handover")
        self._gather: Deferred | None = None  # the flush of requests whose receive has not been seen to end

    def __call__(self, request: Any) -> None:
        if request.task_name != TASK:
            self._hand(request)
            return
        with self._lock:
            self._waiting.append(request)
            due = ends_receive(request) or len(self._waiting) >= MAX_JOB
            if not due and self._gather is None:
                self._gather = self._deferred.later(GATHER_SECONDS, self.flush)
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            waiting, self._waiting = self._waiting, []
            if self._gather is not None:
                self._gather.cancel()
                self._gather = None
        if waiting:
            for share in shares(waiting, self._consumer.pool.num_processes):
                self._apply(share)

    def _apply(self, requests: list[Any]) -> None:
        if len(requests) == 1:
            self._hand(requests[0])
            return
        first = requests[0]
        traced = [(r.type, r.task_id, r.request_dict, r.body, r.content_type, r.content_encoding) for r in requests]
        self._consumer.pool.apply_async(
            run_requests,
            args=(first._app.use_fast_trace_task, traced),
            accept_callback=partial(_accepted, requests),
            callback=partial(self._succeeded, requests),
            error_callback=partial(self._failed, requests),
            timeout_callback=partial(_timed_out, requests),
            timeout=max(r.time_limits[0] or r.task.time_limit or 0 for r in requests) or None,
            soft_timeout=0,  # none (billiard reads None as the pool's default): see the module's docstring
            correlation_id=first.id,
        )

    def _succeeded(self, requests: list[Any], results: Any) -> None:
        if not isinstance(results, list) or len(results) != len(requests):
            self._failed(requests, f"an answer that is not one per request: {results!r:.200}")
            return
        for request, result in zip(requests, results, strict=True):
            try:
                request.on_success(result)
            except Exception:  # as billiard's own callbacks: logged, and the other requests still hear theirs
                logger.exception("handling the outcome of %s failed", request.id)

    def _failed(self, requests: list[Any], why: Any) -> None:
        """The job failed as a whole: its requests go again, one per job. Not on this thread (a pool thread, which
        must not wait for a free process): on the hand-over's own."""
        exception = getattr(why, "exception", why)
        logger.warning("a job of %d requests failed as a whole (%r); handing them to the pool again one by one",
                       len(requests), exception)  # fmt: skip
        self._deferred.later(0, partial(self._one_by_one, requests))

    def _one_by_one(self, requests: list[Any]) -> None:
        for request in requests:
            # Each is its own batch now: its report goes as it ends (classifier/worker/outbox.py), not with a later
            # one's. One of these killed a process, and if it comes after this one it would take along this one's
            # report, and with it a receive towards the dead-letter queue.
            info = (request.request_dict.get("properties") or {}).get("delivery_info")
            if isinstance(info, dict):
                info["ends_receive"] = True
            self._hand(request)


def _accepted(requests: list[Any], pid: int, time_accepted: float) -> None:
    for request in requests:
        request.on_accepted(pid, time_accepted)


def _timed_out(requests: list[Any], soft: bool, timeout: float) -> None:
    logger.warning("a job of %d requests ran past its %s s time limit; its pool process is ended and the requests run "
                   "again one per job", len(requests), timeout)  # fmt: skip


class HandOverReceives(bootsteps.StartStopStep):
    """A consumer bootstep (registered by project/celery.py): the worker's classify requests go to a prefork pool a
    receive at a time."""

    label = "hand a receive to the pool as one job"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        # Before the consumer's strategies are made: they take `on_task_request` when the Tasks step starts.
        if isinstance(getattr(parent, "pool", None), prefork.TaskPool):
            parent.on_task_request = HandOver(parent.on_task_request, parent)
