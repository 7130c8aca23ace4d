"""The classify requests of one receive as one pool job (fastpaths/celery_pool.py does the handing over): the job's
images are classified back to back first (classifier/worker/ahead.py), then each request runs through Celery's
tracer, then the job's reports go out together (classifier/worker/outbox.py)."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

from celery import current_app

from classifier.worker import ahead
from classifier.worker.outbox import outbox
from fastpaths.celery_pool import HandOverReceives, Traced, trace_each

TASK = "classifier.classify"


def run_requests(fast: bool, traced: list[Traced]) -> list[Any]:
    """In the pool process: the job's images classified ahead, each request traced, then this job's reports sent."""
    try:
        ahead.classify_job([request_dict for _, _, request_dict, *_ in traced], _parameters())
        return trace_each(fast, traced)
    finally:
        ahead.forget()
        outbox().flush()


@cache
def _parameters() -> tuple[str, ...]:
    """The classify task's parameters, in order: how its messages' positional arguments are named."""
    return tuple(inspect.signature(current_app.tasks[TASK].run).parameters)


class HandOverClassifyReceives(HandOverReceives):
    """A consumer bootstep (added by project/celery.py where FAST_PATHS is on)."""

    task_name = TASK
    job = staticmethod(run_requests)
