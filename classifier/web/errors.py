"""Errors in the caller's language, for every request: JSON under /api/ ({"error", "code"}, as the API's own),
plain text for the CSE546 clients and other POSTs, Django's pages for people. Django's 400, 404 and 500 handlers
(project/urls.py) and the outage middleware answer through here."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found, server_error


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def error_response(request: HttpRequest, status: int, message: str, code: str) -> HttpResponse:
    """An error in the caller's language: JSON under /api/, plain text elsewhere (the CSE546 clients, people)."""
    if _is_api(request):
        return JsonResponse({"error": message, "code": code}, status=status)
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


def _parse_limit_message(exception: Exception) -> str | None:
    """What Django's own request-parsing limits mean for the client (they would otherwise be a bare HTML 400)."""
    if isinstance(exception, TooManyFilesSent):
        return f"too many files in one request; the limit is {settings.API_MAX_FILES}"
    if isinstance(exception, TooManyFieldsSent):
        return f"too many form fields in one request; the limit is {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}"
    if isinstance(exception, RequestDataTooBig):
        return f"the request's data other than files is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes"
    return None


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400 handler (a request it could not parse): 413 for its size limits, and the caller's format."""
    message = _parse_limit_message(exception)
    if message is not None:
        return error_response(request, 413, message, "too_large")
    if _is_api(request) or request.method == "POST":
        return error_response(request, 400, "the request could not be parsed", "bad_request")
    return django_bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 handler: JSON under /api/, the usual page elsewhere."""
    if _is_api(request):
        return JsonResponse({"error": f"no such resource: {request.path}", "code": "not_found"}, status=404)
    return page_not_found(request, exception)


def crashed(request: HttpRequest) -> HttpResponse:
    """Django's 500 handler: JSON under /api/ (a bug: it is logged with its traceback, the client gets no details)."""
    if _is_api(request):
        return JsonResponse(
            {"error": "internal error; it has been logged", "code": "internal_error"},
            status=500,
        )
    return server_error(request)
