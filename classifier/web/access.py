"""Who may use the service: one switch (settings.API_AUTH) for the API, the CSE546 endpoints and the pages.

Read at request time, not import time, so a deployment flips it with an environment variable and tests with
override_settings. Programs authenticate with `Authorization: Token <key>`, people with a Django login; the
API's permission class is classifier.api.permissions.ApiAccess.
"""

from __future__ import annotations

import functools
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request


def auth_required() -> bool:
    return bool(settings.API_AUTH)


def has_valid_token(request: HttpRequest) -> bool:
    """Whether a plain Django request (the CSE546 endpoint) carries a valid `Authorization: Token <key>`.

    Sessions do not count there: `POST /` is CSRF-exempt (the generators are plain HTTP clients), so accepting a
    browser's session would let any other site upload in a logged-in person's name.
    """
    try:
        return TokenAuthentication().authenticate(Request(request)) is not None
    except AuthenticationFailed:
        return False


def page(view: Any) -> Any:
    """A page for people: with API_AUTH on, anonymous visitors are sent to the login page first."""
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if auth_required() and not await sync_to_async(_logged_in)(request):
                return login_redirect(request)
            return await view(request, *args, **kwargs)

        return async_wrapper

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if auth_required() and not _logged_in(request):
            return login_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper


def login_redirect(request: HttpRequest) -> HttpResponseBase:
    return redirect_to_login(request.get_full_path())


def _logged_in(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated)  # touching request.user loads the session: a database read


def unauthorized_text() -> HttpResponse:
    response = HttpResponse(
        "authentication required: send the header 'Authorization: Token <key>'\n",
        status=401,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = "Token"
    return response
