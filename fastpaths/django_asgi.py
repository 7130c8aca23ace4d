"""Django's ASGI handler, bent: no thread made for a request that needs none. With FAST_PATHS off (or `django_asgi`
not in it) project/asgi.py serves through Django's own ASGIHandler and middleware.

Django's handler runs three things of every request through `sync_to_async`: the request_started signal, the
request_finished signal (from `response.close()`), and, in its middleware chain, every hook of a MiddlewareMixin.
Each is a thread hop, and the first makes the request a thread of its own (asgiref's ThreadSensitiveContext), which
is started and joined again. For `POST /`, whose work runs on the intake threads and the result poller, that was
a large share of the CPU an upload cost the web process (`make bench` prints what this module saves).

What those signals do here is close the database connections of the request's own thread:
- at the start that thread is new, so there is nothing to close: Django's receivers, run on the event loop, find no
  connection there (the loop never holds one: a query on it raises SynchronousOnlyOperation);
- at the end there is something to close only if the request made a thread-sensitive call, which is what makes its
  thread; then `close()` runs there, as in Django.
A receiver this module does not know, or a response with resources to close (a file being sent), goes to the thread
as before.

The middleware named in MIDDLEWARE are loaded as their twins in fastpaths/django_middleware.py, whose hooks stay on
the loop unless they do I/O. MIDDLEWARE keeps Django's names, which its deploy checks look for, so the list is
swapped for the twins' only while this handler builds its chain, once, at start-up (Django's `load_middleware` reads
the setting and offers no other way in). The rest is Django's handler as pinned: `handle` is a copy with two calls
changed, and tests/fastpaths/test_guards.py holds the source of both against the pinned Django, with the private
names used here (`Signal._live_receivers`, `HttpResponseBase._resource_closers`, asgiref's
`context_to_thread_executor`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.cache import close_caches
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, reset_queries
from django.dispatch import Signal
from django.http import HttpRequest, HttpResponseBase
from django.urls import set_script_prefix

from fastpaths.django_middleware import twin_of

# Receivers that touch only the calling thread's connections, caches and URLconf, so on the event loop, which holds
# none, they do no I/O. Django connects these four; anything else connected to the request signals keeps its thread.
ON_THE_LOOP_RECEIVERS = frozenset({reset_queries, close_old_connections, close_caches, reset_urlconf})


def _all_known(signal: Signal, sender: type) -> bool:
    sync_receivers, async_receivers = signal._live_receivers(sender)
    return not async_receivers and all(receiver in ON_THE_LOOP_RECEIVERS for receiver in sync_receivers)


def _may_hold_connections() -> bool:
    """Whether a thread-sensitive call of this request may have opened connections: it made the request a thread of
    its own, or a synchronous caller waits on the request (Django's test clients) and such calls ran on its thread."""
    if getattr(AsyncToSync.executors, "current", None) is not None:
        return True
    context = SyncToAsync.thread_sensitive_context.get(None)
    return context is not None and context in SyncToAsync.context_to_thread_executor


def _closes_a_request(closer: Any) -> bool:
    """`request.close`, which Django adds to every response: it closes the uploaded files, as the handler closes the
    request's body file on the loop. Any other resource (a file being sent) is closed in the thread."""
    return isinstance(getattr(closer, "__self__", None), HttpRequest) and closer.__name__ == "close"


class OnTheLoopASGIHandler(ASGIHandler):
    """Django's ASGI handler: its middleware loaded as their twins, and no thread for a request that needs none."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django reads the list from settings; it is swapped only while the chain is built, once, at start-up.
        named = settings.MIDDLEWARE
        settings.MIDDLEWARE = [twin_of(path) for path in named]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = named

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Django's `handle` (5.2), with the start signal and the response's close made by the two functions below."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        await self._request_started(scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)
            await self._close(error_response)
            return

        async def process_request(request: Any, send: Any) -> HttpResponseBase:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client disconnected during send_response
                await self.send_response(response, send)
            return response

        # Watch for a disconnect while the response is made; the listener goes first, as in Django.
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()  # views may handle their cancellation
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await self._close(response)
        body_file.close()

    async def _request_started(self, scope: dict[str, Any]) -> None:
        if _all_known(signals.request_started, self.__class__):
            signals.request_started.send(sender=self.__class__, scope=scope)
        else:
            await signals.request_started.asend(sender=self.__class__, scope=scope)

    async def _close(self, response: HttpResponseBase) -> None:
        """`response.close()`, which sends request_finished: on the loop when the request made no thread."""
        on_loop = (
            not _may_hold_connections()
            and all(_closes_a_request(closer) for closer in response._resource_closers)
            and _all_known(signals.request_finished, self.__class__)
        )
        if on_loop:
            response.close()
        else:
            await sync_to_async(response.close)()
