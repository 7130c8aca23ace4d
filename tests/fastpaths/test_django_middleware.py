"""Django's middleware through the ASGI handler the server runs: hooks without I/O on the event loop, the rest in a
thread, and the same answers as Django's own classes give (headers, CSRF, a saved session)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.module_loading import import_string

from fastpaths.django_asgi import OnTheLoopASGIHandler
from fastpaths.django_middleware import ON_THE_LOOP, OnTheLoop
from tests.project.event_loop import on_the_loop

Hook = tuple[str, str]  # (middleware class, hook)


@pytest.fixture
def where_hooks_ran(monkeypatch) -> Iterator[dict[Hook, bool]]:
    """Which hooks of Django's classes ran, and whether on the event loop (True) or in a thread (False)."""
    ran: dict[Hook, bool] = {}

    def spy(cls: type, name: str) -> None:
        hook = getattr(cls, name)

        def recorded(self: Any, *args: Any) -> Any:
            ran[(cls.__name__, name)] = on_the_loop()
            return hook(self, *args)

        monkeypatch.setattr(cls, name, recorded)

    # MessageMiddleware's twin builds its storage lazily and skips Django's hooks when nothing touched it (below).
    for cls in (SecurityMiddleware, SessionMiddleware):
        spy(cls, "process_request")
    for cls in (SecurityMiddleware, SessionMiddleware, XFrameOptionsMiddleware):
        spy(cls, "process_response")
    spy(CsrfViewMiddleware, "process_view")
    yield ran


def _request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request through the server's handler (built per call, so the spies above are seen)."""
    handler = OnTheLoopASGIHandler()
    encoded = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if body:
        encoded.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "headers": [(b"host", b"testserver"), *encoded], "server": ("testserver", 80),
             "client": ("127.0.0.1", 5000)}  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected: Django answers a disconnect with nothing
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # As Django's test clients do: the test's transaction lives on this thread's connection, which the request
    # signals would close.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        async_to_sync(handler)(scope, receive, send)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    start = sent[0]
    response_headers = [(k.decode(), v.decode()) for k, v in start["headers"]]
    return start["status"], response_headers, b"".join(m.get("body", b"") for m in sent[1:])


def _cookies(headers: list[tuple[str, str]]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in headers:
        if name.lower() == "set-cookie":
            jar.load(value)
    return {name: morsel.value for name, morsel in jar.items()}


def test_each_django_middleware_named_has_a_twin_and_settings_keep_django_s_names() -> None:
    """Django's deploy checks look for its classes by name; the handler loads the twins, settings stay as written."""
    for name, twin in ON_THE_LOOP.items():
        assert name in settings.MIDDLEWARE
        assert issubclass(twin, import_string(name)) and issubclass(twin, OnTheLoop)
    named = list(settings.MIDDLEWARE)
    OnTheLoopASGIHandler()
    assert named == settings.MIDDLEWARE


def test_a_plain_request_never_leaves_the_event_loop_for_a_middleware_hook(where_hooks_ran) -> None:
    status, headers, body = _request("GET", "/healthz")
    assert status == 200 and b"alive" in body
    assert where_hooks_ran and all(where_hooks_ran.values()), where_hooks_ran
    assert len(where_hooks_ran) == 6  # every hook spied on ran: the twins were loaded
    names = {name.lower(): value for name, value in headers}
    # What Django's own classes add, added all the same.
    assert names["x-frame-options"] == "DENY"
    assert names["x-content-type-options"] == "nosniff"
    assert names["referrer-policy"] == "same-origin"


@pytest.mark.django_db
def test_a_form_post_is_checked_and_a_login_saved_in_a_thread(where_hooks_ran) -> None:
    User.objects.create_user("ada", password="correct horse battery")
    status, headers, page = _request("GET", "/accounts/login/")
    assert status == 200
    token = _cookies(headers)["csrftoken"]
    assert re.search(rb'name="csrfmiddlewaretoken"', page)

    form = "application/x-www-form-urlencoded"
    refused, _, _ = _request("POST", "/accounts/login/", urlencode({"username": "ada"}).encode(),
                             {"content-type": form, "cookie": f"csrftoken={token}"})  # fmt: skip
    assert refused == 403  # no token in the form: the CSRF check ran, in a thread
    assert where_hooks_ran[("CsrfViewMiddleware", "process_view")] is False

    where_hooks_ran.clear()
    fields = {"username": "ada", "password": "correct horse battery", "csrfmiddlewaretoken": token}
    status, headers, _ = _request("POST", "/accounts/login/", urlencode(fields).encode(),
                                  {"content-type": form, "cookie": f"csrftoken={token}"})  # fmt: skip
    assert status == 302
    assert "sessionid" in _cookies(headers)  # the session was saved: in a thread, not on the loop
    assert where_hooks_ran[("SessionMiddleware", "process_response")] is False
    assert where_hooks_ran[("SecurityMiddleware", "process_response")] is True


SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
MESSAGES = "django.contrib.messages.middleware.MessageMiddleware"


class _Storage:
    def __init__(self, used: bool, added_new: bool) -> None:
        self.used, self.added_new = used, added_new


class _Session:
    def __init__(self, modified: bool) -> None:
        self.modified = modified


@pytest.mark.parametrize(
    ("twin", "attribute", "value", "needs_thread"),
    [
        (SESSIONS, "session", _Session(modified=False), False),
        (SESSIONS, "session", _Session(modified=True), True),
        (MESSAGES, "_messages", _Storage(used=False, added_new=False), False),
        (MESSAGES, "_messages", _Storage(used=True, added_new=False), True),
        (MESSAGES, "_messages", _Storage(used=False, added_new=True), True),
    ],
)
def test_a_response_hook_goes_to_a_thread_only_to_store_something(
    twin: str, attribute: str, value: object, needs_thread: bool
) -> None:
    middleware: Callable[..., Any] = ON_THE_LOOP[twin]
    request = type("Request", (), {attribute: value})()
    instance = middleware(lambda request: None)
    assert instance.response_needs_thread(request, None) is needs_thread


def test_the_message_storage_is_built_only_when_touched_and_then_stored_as_django_stores_it() -> None:
    from django.contrib import messages
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.utils.functional import empty

    twin = ON_THE_LOOP[MESSAGES](lambda request: None)
    untouched = RequestFactory().get("/")
    twin.process_request(untouched)
    response = twin.process_response(untouched, HttpResponse())
    assert untouched._messages._wrapped is empty and "messages" not in response.cookies
    assert twin.response_needs_thread(untouched, response) is False

    touched = RequestFactory().get("/")
    touched.session = {}  # the fallback storage needs a session to exist, though a short message goes in a cookie
    twin.process_request(touched)
    messages.info(touched, "saved")
    assert twin.response_needs_thread(touched, None) is True
    response = twin.process_response(touched, HttpResponse())
    later = RequestFactory().get("/", HTTP_COOKIE=f"messages={response.cookies['messages'].value}")
    later.session = {}
    twin.process_request(later)
    assert [str(message) for message in messages.get_messages(later)] == ["saved"]
