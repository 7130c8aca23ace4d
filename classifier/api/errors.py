"""Every API error is JSON: {"error": what was wrong, for a person; "code": the same, for a program}."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found, server_error
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from classifier.intake import UploadRejected

# The code that goes with each status an upload can be refused with (classifier/intake.py).
UPLOAD_CODES = {
    400: "invalid_upload",
    413: "too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    503: "unavailable",
}


class Refused(exceptions.APIException):
    """An API error with our own status, message and code."""

    def __init__(self, status_code: int, message: str, code: str) -> None:
        super().__init__(message, code)
        self.status_code = status_code

    @classmethod
    def from_upload(cls, rejected: UploadRejected) -> Refused:
        return cls(rejected.status, rejected.message, UPLOAD_CODES.get(rejected.status, "invalid_upload"))


def json_error(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's exception handler, reshaped; anything else (a bug) still becomes Django's 500."""
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    response.data = {"error": _message(exc.detail), "code": _code(exc)}
    return response


def _message(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {_message(value)}" for field, value in detail.items())
    if isinstance(detail, list):
        return "; ".join(_message(item) for item in detail)
    return str(detail)


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    while isinstance(codes, (dict, list)) and codes:
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return str(codes) if isinstance(codes, str) else "error"


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
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return server_error(request)
