"""Celery's worker, bent: its state read (which requests the worker holds, which of them a pool process runs), and
its program's own output made log records.

State: Celery keeps these as module-level sets in `celery.worker.state` (listed in its API reference, though not
meant for callers) and offers no hook that tells when a request it handed to the pool never started. The
stranded-task watchdog (classifier/worker/stranded.py) needs both; it reads them only through this module, whose
names tests/fastpaths/test_guards.py holds against the pinned Celery. This is a repair, not a speed-up: it stays on
with FAST_PATHS off.

Output: with LOG_FORMAT=json a log shipper expects nothing but JSON lines, but Celery's worker program prints its
banner and its signal handlers' notices ("worker: Warm shutdown") as plain text, the notices through
`celery.apps.worker.safe_say`, a module function with no hook. The app's Worker class here logs the banner instead,
and swaps that function for one that writes the same notice as one JSON line. A matter of format, not speed: it
stays on with FAST_PATHS off.
"""

from __future__ import annotations

import logging
import os
import sys
from functools import cached_property
from typing import Any

from celery import Celery
from celery.apps import worker as celery_worker_program
from celery.apps.worker import Worker as CeleryWorker
from celery.worker import state as worker_state

from common.logs import JsonFormatter


def reserved() -> list[Any]:
    """The requests the worker holds: received, not yet finished (running ones included)."""
    return list(worker_state.reserved_requests)


def running() -> int:
    """How many requests a pool process is running."""
    return len(worker_state.active_requests)


def forget(request: Any) -> None:
    """Tell Celery a request is done with (after it was handed back), so that its prefetch slot is free."""
    worker_state.task_ready(request)


class JsonLoggingWorker(CeleryWorker):
    """Celery's worker program, writing nothing but log records with LOG_FORMAT=json: its banner and the notices of
    its signal handlers are plain text otherwise."""

    def on_before_init(self, *args: Any, **kwargs: Any) -> None:
        from django.conf import settings

        if settings.LOG_FORMAT == "json":
            celery_worker_program.safe_say = _say_as_json
        super().on_before_init(*args, **kwargs)

    def emit_banner(self) -> None:
        from django.conf import settings

        if settings.LOG_FORMAT != "json":
            super().emit_banner()
            return
        logging.getLogger(__name__).info("%s%s", self.startup_info(artlines=False), self.extra_info() or "")


def _say_as_json(message: str, file: Any = sys.__stderr__) -> None:
    """What Celery's signal handlers print ("worker: Warm shutdown"), as one JSON line. Written with os.write as
    Celery's own `safe_say` does, never through logging: a signal may arrive while a thread holds logging's locks."""
    record = logging.LogRecord("celery.apps.worker", logging.WARNING, __file__, 0, message.strip(), None, None)
    os.write((file or sys.__stderr__).fileno(), (JsonFormatter().format(record) + "\n").encode())


class JsonLoggingCelery(Celery):
    """A Celery app whose worker program writes only log records where LOG_FORMAT is json."""

    @cached_property
    def Worker(self) -> Any:  # noqa: N802 (Celery's name)
        return self.subclass_with_self(JsonLoggingWorker)
