"""Workers retire themselves: the scale-in half of the autoscaler that can never kill a busy worker.

A Celery consumer bootstep, registered by project/celery.py. It watches the main process's active and reserved
requests (the prefork children run the tasks, but the main process tracks them) and, once there has been nothing
to do for WORKER_IDLE_SECONDS, asks for a warm shutdown by signalling its own process: Celery finishes what it
holds, hands prefetched messages back to the queue, and exits 0. On EC2 the worker's unit then powers the
instance off (shutdown behaviour `terminate`), seeing WORKER_RETIRED_FILE written: a plain stop leaves it up.
Workers launched to hold the autoscaler's minimum run with WORKER_RETIRE off.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from celery import bootsteps
from celery.worker import state as worker_state
from django.conf import settings

logger = logging.getLogger(__name__)


def is_idle() -> bool:
    return not worker_state.active_requests and not worker_state.reserved_requests


def tasks_started() -> int:
    """Tasks this worker has started so far. A task shorter than the watch's half-second look (most classifications
    take 20-80 ms) is never seen running: a busy worker would look idle and retire, and a new one would have to boot."""
    return worker_state.all_total_count[0]


class RetireWhenIdle(bootsteps.StartStopStep):
    label = "retire when idle"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.idle_seconds: float = settings.WORKER_IDLE_SECONDS
        self.retire: bool = settings.WORKER_RETIRE
        self.ready_file: str = settings.WORKER_READY_FILE
        self.retired_file: str = settings.WORKER_RETIRED_FILE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, parent: Any) -> None:
        if self.ready_file:
            # Tells the local provider this worker has booted (pending -> running).
            Path(self.ready_file).write_text(str(os.getpid()))
        if not self.retire:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="retire-when-idle", daemon=True)
        self._thread.start()
        logger.info("will retire after %.0f s without work", self.idle_seconds)

    def stop(self, parent: Any) -> None:
        self._stop.set()

    def _watch(self) -> None:
        idle_since = time.monotonic()
        started = tasks_started()
        while not self._stop.wait(0.5):
            if not is_idle() or tasks_started() != started:
                idle_since, started = time.monotonic(), tasks_started()
            elif time.monotonic() - idle_since >= self.idle_seconds:
                logger.info("idle for %.0f s: retiring (warm shutdown)", self.idle_seconds)
                if self.retired_file:
                    Path(self.retired_file).write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGTERM)
                return
