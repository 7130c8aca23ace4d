"""The threads uploads are validated and stored on: a fixed pool per process, each thread keeping its connection.

Under ASGI every request gets a thread of its own for its synchronous work, and with it a new database connection
(CONN_MAX_AGE is 0: connections kept per request thread would pile up). For an upload that connection cost more
than its insert, on SQLite a good share of the intake's CPU. INTAKE_CONCURRENCY threads do the intake instead and keep
their connections between uploads where opening one is dear (SQLite); a pooled PostgreSQL connection goes back to
the pool after each upload, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import AsyncToSync, sync_to_async
from django.conf import settings
from django.db import connection

from common.connections import keep_unless_broken

P = ParamSpec("P")
R = TypeVar("R")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_this_thread = threading.local()


def _mark_intake_thread() -> None:
    _this_thread.intake = True


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.INTAKE_CONCURRENCY, thread_name_prefix="intake", initializer=_mark_intake_thread
            )
        return _pool


def on_intake_thread() -> bool:
    return getattr(_this_thread, "intake", False)


def sync_caller_waits() -> bool:
    """Whether a synchronous caller waits on this request (Django's test clients, `async_to_sync`): its work then
    belongs on that caller's thread, as a thread-sensitive call's would, whose connection holds its transaction."""
    return getattr(AsyncToSync.executors, "current", None) is not None


def start_intake_thread(work: Callable[[], None]) -> None:
    """Run `work` on an intake thread, not waiting for it; `work` makes the thread's connection fit for use itself
    (keep_unless_broken) and reports its own outcome."""
    _executor().submit(work)


async def run_on_intake_thread(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run `function` on an intake thread, with that thread's connection made fit for use first; on a waiting
    synchronous caller's thread instead where there is one (sync_caller_waits)."""
    if sync_caller_waits():
        return await sync_to_async(function, thread_sensitive=True)(*args, **kwargs)
    return await sync_to_async(_with_fit_connection, thread_sensitive=False, executor=_executor())(
        function, *args, **kwargs
    )


def _with_fit_connection(function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    keep_unless_broken()
    return function(*args, **kwargs)


def keeps_its_connection() -> bool:
    """Whether this thread keeps its connection after an upload: an intake thread on SQLite."""
    return on_intake_thread() and connection.vendor == "sqlite"
