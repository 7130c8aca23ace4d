"""The server's ASGI handler called as an ASGI server calls it: a request that needs no thread gets none, and one that
made a thread still has its connections closed there, as Django does."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import path

from fastpaths.django_asgi import OnTheLoopASGIHandler
from tests.project.event_loop import on_the_loop

# --- The views this module serves (ROOT_URLCONF points here) -------------------------------------------------------
connections_used: list[Any] = []


async def async_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async")


def sync_view(request: HttpRequest) -> HttpResponse:
    """Django runs it in the request's own thread, where it opens that thread's connection."""
    wrapper = connections[DEFAULT_DB_ALIAS]  # this thread's own, not the proxy
    wrapper.ensure_connection()
    connections_used.append(wrapper)
    return HttpResponse("sync")


async def async_view_with_a_sync_call(request: HttpRequest) -> HttpResponse:
    await sync_to_async(sync_view)(request)
    return HttpResponse("both")


urlpatterns = [
    path("async", async_view),
    path("sync", sync_view),
    path("both", async_view_with_a_sync_call),
]


# --- Calling the handler as uvicorn does: from the event loop, no synchronous caller waiting ------------------------
def _get(path_: str) -> tuple[int, bytes]:
    handler = OnTheLoopASGIHandler()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "path": path_,
             "raw_path": path_.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "headers": [(b"host", b"testserver")], "server": ("testserver", 80),
             "client": ("127.0.0.1", 5000)}  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def call() -> None:
        received = False
        answered = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered.set()

        await handler(scope, receive, send)

    asyncio.run(call())
    return sent[0]["status"], b"".join(message.get("body", b"") for message in sent[1:])


@pytest.fixture
def served_here(settings) -> None:
    settings.ROOT_URLCONF = __name__
    connections_used.clear()


@pytest.fixture
def where_it_ran(monkeypatch) -> Iterator[dict[str, list[bool]]]:
    """Where the start signal and the response's close ran: True on the event loop, False in a thread."""
    ran: dict[str, list[bool]] = {"started": [], "close": []}
    send_started = request_started.send

    def started(*args: Any, **kwargs: Any) -> Any:
        ran["started"].append(on_the_loop())
        return send_started(*args, **kwargs)

    close = HttpResponseBase.close

    def closed(self: HttpResponseBase) -> None:
        ran["close"].append(on_the_loop())
        close(self)

    monkeypatch.setattr(request_started, "send", started)
    monkeypatch.setattr(HttpResponseBase, "close", closed)
    yield ran


def test_a_request_that_makes_no_synchronous_call_gets_no_thread(served_here, where_it_ran) -> None:
    threads_before = {thread.ident for thread in threading.enumerate()}
    assert _get("/async") == (200, b"async")
    assert where_it_ran == {"started": [True], "close": [True]}
    assert {thread.ident for thread in threading.enumerate()} <= threads_before


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("path_", "body"), [("/sync", b"sync"), ("/both", b"both")])
def test_a_request_that_made_its_thread_closes_its_connection_there(served_here, where_it_ran, path_, body) -> None:
    assert _get(path_) == (200, body)
    [used] = connections_used
    assert used.connection is None  # closed by request_finished, in the thread that opened it
    assert where_it_ran["close"] == [False]


def test_a_receiver_it_does_not_know_runs_in_a_thread(served_here) -> None:
    ran: list[str] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        ran.append("loop" if on_the_loop() else "thread")

    request_started.connect(receiver)
    request_finished.connect(receiver)
    try:
        assert _get("/async") == (200, b"async")
    finally:
        request_started.disconnect(receiver)
        request_finished.disconnect(receiver)
    assert ran == ["thread", "thread"]
