"""Async fronts for DRF views, so waiting costs no thread and no database connection.

DRF views are synchronous. Under ASGI each runs on a thread of its own; these wrappers keep the parts that wait on
the event loop: a submission waits there for an intake slot, then runs on an intake thread (classifier/intake/),
and `?wait=` parks the caller on the per-process result poller (classifier/results/waiting.py) between two ordinary
runs of the view. functools.wraps copies the view's attributes (`cls`, `csrf_exempt`), so URL routing, CSRF and the
OpenAPI schema still see DRF.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponseBase

from classifier.intake.http import intake_slot, release_connection
from classifier.intake.threads import run_on_intake_thread
from classifier.models import PENDING_STATUSES
from classifier.results.waiting import waiter_for_this_loop

SyncView = Callable[..., HttpResponseBase]


def _run(view: SyncView, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    try:
        return view(request, *args, **kwargs)
    finally:
        release_connection()


def bounded_intake(view: SyncView) -> Callable[..., Any]:
    """POSTs wait on the event loop for one of the process's intake slots before they take a thread."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method != "POST":
            return await sync_to_async(_run)(view, request, *args, **kwargs)
        async with intake_slot():
            return await run_on_intake_thread(_run, view, request, *args, **kwargs)

    return wrapper


def long_poll(view: SyncView, wait_seconds: Callable[[HttpRequest], float], poll_seconds: Callable[[], float]) -> Any:
    """Run the view; if it shows a pending request and the caller asked to wait, wait for it and run it again."""

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, request_id: uuid.UUID, **kwargs: Any) -> HttpResponseBase:
        response = await sync_to_async(_run)(view, request, request_id=request_id, **kwargs)
        data = getattr(response, "data", None)
        if response.status_code != 200 or not isinstance(data, dict) or data.get("status") not in PENDING_STATUSES:
            return response
        try:
            wait = wait_seconds(request.GET)
        except ValueError:
            return response  # the view has already validated it; nothing to wait for
        if wait <= 0:
            return response
        await waiter_for_this_loop(poll_seconds()).wait(request_id, wait)
        return await sync_to_async(_run)(view, request, request_id=request_id, **kwargs)

    return wrapper
