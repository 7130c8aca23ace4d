"""Celery's request execution, bent: the requests of one receive go to a prefork pool process as one job, where Celery
makes a job of each.

Celery hands every task to a pool process on its own: pickled into a pipe, taken, accepted, run, its result pickled
back, each step waking the worker's threads and the pool process in turn. A worker receives up to ten messages at
once (fastpaths/kombu_sqs.py); here the requests of one receive go to a pool process together, as one job that runs
each through Celery's own tracer in turn, and the worker's main process then makes Celery's own calls for each
request, as if it had run alone (accepted, then succeeded or failed, acknowledged). `make bench` prints what it saves.

What does not change:
- A request that arrives alone (a quiet queue) goes the way Celery sends it, at once; so does every other task's.
- Each request runs through Celery's tracer: its signals, its retries, its failure and its report are its own.
- A job that fails as a whole (its pool process died, from a poison image say, or it ran past its time limit) fails
  none of its requests: they go to the pool again, one per job, so only the request that kills a process or overruns
  is charged with it (a receive towards the dead-letter queue, a time limit), as before. Such a request pays twice
  (with its job, then alone), and the others run again: their tasks must be idempotent, as at-least-once asks.
  Alone, each is marked as the end of its receive, so what the job's function sends at a receive's end goes at once.
- A job has one request's hard time limit and no soft one: a soft limit would fall on whichever request was running
  when the job as a whole reached it, and a request on its own again gets both of its own.

Where a pool has several processes, a receive is shared among them. A request not marked as the last of its receive
(one whose countdown ran out on the timer, say) waits at most GATHER_SECONDS for others.

Celery's names this relies on (its Request's attributes and callbacks, `on_task_request`, the tracer functions,
billiard's `apply_async` options) are held by tests/fastpaths/test_guards.py. With FAST_PATHS off the bootstep is
not added (project/celery.py) and every request is Celery's own job.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar

from celery import bootsteps
from celery.app.trace import fast_trace_task, trace_task_ret
from celery.concurrency import prefork

from common.deferred import DeferredCalls
from common.gathering import Gathering
from common.sqs_batches import SQS_BATCH_SIZE

logger = logging.getLogger(__name__)

MAX_JOB = SQS_BATCH_SIZE  # a receive's most
GATHER_SECONDS = 0.05

# What the pool process is given for each request: Celery's own arguments to its tracer.
Traced = tuple[str, str, dict[str, Any], Any, str, str]
# A job's function, run in the pool process: (use Celery's fast tracer, each request's arguments) -> each result. It
# must be a module-level function (the pool pickles it by name) and return `trace_each`'s answer.
Job = Callable[[bool, list[Traced]], list[Any]]


def trace_each(fast: bool, traced: list[Traced]) -> list[Any]:
    """In the pool process: each request through Celery's tracer, in order, as Celery would run it alone."""
    trace = fast_trace_task if fast else trace_task_ret
    return [trace(*arguments) for arguments in traced]


def ends_receive(request: Any) -> bool:
    """Whether the transport marked this request's message as the last of its receive (fastpaths/kombu_sqs.py)."""
    info = (request.request_dict.get("properties") or {}).get("delivery_info")
    return isinstance(info, dict) and bool(info.get("ends_receive"))


def shares(requests: Sequence[Any], processes: int) -> list[list[Any]]:
    """The requests split as evenly as they go among up to `processes` jobs, in order."""
    size = math.ceil(len(requests) / max(1, min(processes, len(requests))))
    return [list(requests[start : start + size]) for start in range(0, len(requests), size)]


class HandOver:
    """Stands in for the worker's `on_task_request` (one request, one job): requests of `task_name` are gathered until
    their receive is all there, then handed over together as one `job` (see the module's docstring)."""

    def __init__(self, hand: Callable[[Any], None], consumer: Any, task_name: str, job: Job) -> None:
        self._hand = hand  # Celery's own
        self._consumer = consumer
        self._task_name = task_name
        self._job = job
        self._gathering: Gathering[Any] = Gathering(
            self._hand_over, within=GATHER_SECONDS, name="handover", size=MAX_JOB
        )
        self._deferred = DeferredCalls("handover-again")

    def __call__(self, request: Any) -> None:
        if request.task_name != self._task_name:
            self._hand(request)
            return
        self._gathering.add(request, completes=ends_receive(request))

    def flush(self) -> None:
        self._gathering.flush()

    def _hand_over(self, waiting: Sequence[Any]) -> None:
        for share in shares(waiting, self._consumer.pool.num_processes):
            self._apply(share)

    def _apply(self, requests: list[Any]) -> None:
        if len(requests) == 1:
            self._hand(requests[0])
            return
        first = requests[0]
        traced = [(r.type, r.task_id, r.request_dict, r.body, r.content_type, r.content_encoding) for r in requests]
        self._consumer.pool.apply_async(
            self._job,
            args=(first.app.use_fast_trace_task, traced),
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
            # Each is its own receive now: what is sent at a receive's end goes as it ends, not with a later one's.
            # One of these killed a process; coming after this one, it would take along what this one sent.
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
    """A consumer bootstep: the worker's requests of `task_name` go to a prefork pool a receive at a time, as `job`.
    Subclass it with both set (`job = staticmethod(a_function)`), and add the subclass to the consumer's steps."""

    label = "hand a receive to the pool as one job"
    task_name: ClassVar[str]
    job: ClassVar[Job]

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        # Before the consumer's strategies are made: they take `on_task_request` when the Tasks step starts.
        if isinstance(getattr(parent, "pool", None), prefork.TaskPool):
            parent.on_task_request = HandOver(parent.on_task_request, parent, self.task_name, self.job)
