"""Django's middleware, bent: its own classes, with the hooks that do no I/O run on the event loop instead of in a
thread (loaded by fastpaths/django_asgi.py only; FAST_PATHS off serves Django's own).

Under ASGI, Django calls every hook of a MiddlewareMixin middleware through `sync_to_async`: one thread hop per
hook. The default chain makes thirteen per request, a large share of the web tier's CPU per upload (`make bench`
prints what this module and fastpaths/django_asgi.py save together). Most of these hooks only read settings,
cookies and headers.
The subclasses below call them directly, and hop to a thread only where the hook would do I/O: saving a session,
storing messages, reading a form body for its CSRF token. They are the same classes otherwise.

MIDDLEWARE keeps Django's names, which its deploy checks look for (security, CSRF, clickjacking, session cookies);
the ASGI handler (fastpaths/django_asgi.py) loads each as its subclass here. Under WSGI, and in Django's test
clients, nothing changes.

The rule for each is Django's own condition for doing that I/O, read off the pinned version. Should one of them
reach the database on the event loop after all, Django raises SynchronousOnlyOperation: it fails loudly, it does
not block the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware
from django.contrib.messages.storage import default_storage
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware as DjangoXFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware as DjangoCsrfViewMiddleware
from django.middleware.security import SecurityMiddleware as DjangoSecurityMiddleware
from django.utils.deprecation import MiddlewareMixin
from django.utils.functional import SimpleLazyObject, empty

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # RFC 9110's, as the CSRF check reads them


class OnTheLoop(MiddlewareMixin):
    """A MiddlewareMixin whose hooks run on the event loop unless `*_needs_thread` says this call does I/O."""

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return False

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = await _call(self.process_request, self.request_needs_thread(request), request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = await _call(
                self.process_response, self.response_needs_thread(request, response), request, response
            )
        return response


async def _call(hook: Callable[..., Any], in_thread: bool, *args: Any) -> Any:
    if in_thread:
        return await sync_to_async(hook, thread_sensitive=True)(*args)
    return hook(*args)


class SecurityMiddleware(OnTheLoop, DjangoSecurityMiddleware):
    """Headers and the HTTPS redirect: settings and the request only."""


class CommonMiddleware(OnTheLoop, DjangoCommonMiddleware):
    """The slash and www redirects (a URL resolve, in memory) and the user-agent refusal."""


class XFrameOptionsMiddleware(OnTheLoop, DjangoXFrameOptionsMiddleware):
    """One response header."""


class AuthenticationMiddleware(OnTheLoop, DjangoAuthenticationMiddleware):
    """Sets a lazy `request.user`; the session and the user are read only when a view asks."""


class SessionMiddleware(OnTheLoop, DjangoSessionMiddleware):
    """A lazy session; the response hook writes to the database only to save a modified session."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class MessageMiddleware(OnTheLoop, DjangoMessageMiddleware):
    """The storage is made when a view or a template first touches it (building it read settings a dozen times, for
    every upload); the response hook stores only messages that were read or added (in the session)."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if not _touched(getattr(request, "_messages", None)):
            return response  # nothing was read or added: Django's update would store nothing
        return super().process_response(request, response)

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        return _touched(storage) and (storage.used or storage.added_new)


def _touched(storage: Any) -> bool:
    """Whether a request's message storage exists and was built (a lazy one that nothing touched was not)."""
    if storage is None:
        return False
    return not isinstance(storage, SimpleLazyObject) or storage._wrapped is not empty


class CsrfViewMiddleware(OnTheLoop, DjangoCsrfViewMiddleware):
    """The cookie is read and set on the loop; the token check, which may parse a form body, runs in a thread.
    A view exempt from the check (the CSE546 endpoint) or a safe method needs no thread at all."""

    def __init__(self, get_response: Callable[..., Any]) -> None:
        super().__init__(get_response)
        if self.async_mode:
            # Django adapts process_view by whether it is a coroutine function; only the asynchronous chain gets one.
            self.process_view = self._process_view_async  # type: ignore[method-assign]

    async def _process_view_async(self, request: HttpRequest, callback: Any, *args: Any) -> HttpResponseBase | None:
        on_loop = (
            getattr(request, "csrf_processing_done", False)
            or getattr(callback, "csrf_exempt", False)
            or request.method in SAFE_METHODS
        )
        return await _call(super().process_view, not on_loop, request, callback, *args)

    def request_needs_thread(self, request: HttpRequest) -> bool:
        return settings.CSRF_USE_SESSIONS  # the secret lives in the session then

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return settings.CSRF_USE_SESSIONS


# Django's name -> the twin the ASGI handler loads instead.
ON_THE_LOOP: dict[str, type[OnTheLoop]] = {
    "django.middleware.security.SecurityMiddleware": SecurityMiddleware,
    "django.middleware.common.CommonMiddleware": CommonMiddleware,
    "django.middleware.clickjacking.XFrameOptionsMiddleware": XFrameOptionsMiddleware,
    "django.contrib.auth.middleware.AuthenticationMiddleware": AuthenticationMiddleware,
    "django.contrib.sessions.middleware.SessionMiddleware": SessionMiddleware,
    "django.contrib.messages.middleware.MessageMiddleware": MessageMiddleware,
    "django.middleware.csrf.CsrfViewMiddleware": CsrfViewMiddleware,
}


def twin_of(path: str) -> str:
    """The dotted path of the twin of a middleware named in MIDDLEWARE, or the path itself where it has none."""
    twin = ON_THE_LOOP.get(path)
    return f"{twin.__module__}.{twin.__qualname__}" if twin else path
