"""Tasks stranded in the worker: handed to the pool, never started, their message held for as long as it lives.

billiard's pool loses a job when the pool process that took it from the pool's queue dies before it reported the
job as accepted (a SIGKILL, the OOM killer, at just that moment). Celery then never hears of the job again: no
WorkerLostError, no rejection. The request stays reserved, so its prefetch slot stays taken (a worker with
concurrency 1 consumes nothing more, and never retires), and the visibility heartbeat (fastpaths/kombu_sqs.py) keeps
its message hidden. It happens in a fair share of pool-process kills.

Worse, a pool process killed while it waited for work dies holding the lock of the pool's shared job queue (the
plain billiard pool that Celery uses without an event loop, as with our synchronous transport): its replacement
waits for that lock forever, and no job reaches a pool process again. The worker is wedged for good.

A Celery consumer bootstep, registered by project/celery.py. Once a second it looks for a request that is reserved,
due (not waiting for an ETA), not started, while the pool has a process with nothing to run. One that stays so for
STRANDED_AFTER seconds means the pool no longer runs jobs: every message the worker holds is handed back (visible
again at once) and the worker exits, warm if it can, killed after EXIT_GRACE if not, so that whatever runs it (the
autoscaler, runstack, systemd on an instance) starts a fresh one. A request that merely waits for a busy pool is
never touched, and the grace covers a replacement process loading its model.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Any

from celery import bootsteps
from celery.concurrency import prefork

from fastpaths import celery_worker

logger = logging.getLogger(__name__)

# Longer than a replacement pool process takes to load the model on a loaded two-core machine (about 20 s seen).
STRANDED_AFTER = 30.0
LOOK_EVERY = 1.0
EXIT_GRACE = 10.0


def is_stranded_candidate(request: Any, idle_processes: int) -> bool:
    """Reserved, due, never accepted by a pool process, while some pool process has nothing to run."""
    return idle_processes > 0 and request.eta is None and not request.time_start and not request.acknowledged


class HandBackStranded(bootsteps.StartStopStep):
    label = "hand back stranded tasks"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._since: dict[str, float] = {}

    def start(self, parent: Any) -> None:
        self._stop.clear()
        pool = getattr(parent, "pool", None)
        if not isinstance(pool, prefork.TaskPool):
            return  # the solo pool (the results consumer) runs tasks in this process: nothing can be stranded
        threading.Thread(target=self._watch, args=(pool,), name="stranded-tasks", daemon=True).start()

    def stop(self, parent: Any) -> None:
        self._stop.set()

    def _watch(self, pool: Any) -> None:
        while not self._stop.wait(LOOK_EVERY):
            try:
                self.look(pool.num_processes, time.monotonic())
            except Exception:  # a look that fails is retried in a second; it must not end the watch
                logger.warning("looking for stranded tasks failed", exc_info=True)

    def look(self, processes: int, now: float) -> list[str]:
        """One look; returns the ids of the requests handed back."""
        idle = processes - celery_worker.running()
        current = {request.id: request for request in celery_worker.reserved()}
        candidates = {rid: request for rid, request in current.items() if is_stranded_candidate(request, idle)}
        self._since = {rid: self._since.get(rid, now) for rid in candidates}
        stranded = [rid for rid in candidates if now - self._since[rid] >= STRANDED_AFTER]
        if not stranded:
            return []
        logger.error("task %s was never started by the pool in %.0f s: the pool no longer runs jobs (a pool process "
                     "died taking one, or holding its queue's lock); handing back %d held message(s) and exiting",
                     stranded[0], STRANDED_AFTER, len(current))  # fmt: skip
        for request in current.values():
            if not request.time_start:  # a task that did start finishes, or dies with its pool process
                request.reject(requeue=True)
                celery_worker.forget(request)
        self._stop.set()
        self.exit()
        return list(current)

    def exit(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # a warm shutdown, if the pool lets it finish
        deadline = threading.Timer(EXIT_GRACE, os.kill, (os.getpid(), signal.SIGKILL))  # its processes go with it
        deadline.daemon = True  # a warm shutdown that completes does not wait for it
        deadline.start()
