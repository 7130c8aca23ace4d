"""Celery's worker state, read: which requests the worker holds and which of them a pool process runs.

Celery keeps these as module-level sets in `celery.worker.state` (listed in its API reference, though not meant for
callers) and offers no hook that tells when a request it handed to the pool never started. The stranded-task
watchdog (classifier/worker/stranded.py) needs both; it reads them only through this module, whose names
tests/fastpaths/test_guards.py holds against the pinned Celery. This is a repair, not a speed-up: it stays on with
FAST_PATHS off.
"""

from __future__ import annotations

from typing import Any

from celery.worker import state as worker_state


def reserved() -> list[Any]:
    """The requests the worker holds: received, not yet finished (running ones included)."""
    return list(worker_state.reserved_requests)


def running() -> int:
    """How many requests a pool process is running."""
    return len(worker_state.active_requests)


def forget(request: Any) -> None:
    """Tell Celery a request is done with (after it was handed back), so that its prefetch slot is free."""
    worker_state.task_ready(request)
