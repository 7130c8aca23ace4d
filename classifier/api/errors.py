"""Every API error is JSON: {"error": what was wrong, for a person; "code": the same, for a program}.

DRF's errors are reshaped here; what Django answers before or around a view is classifier/web/errors.py's.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from classifier.intake.validation import UploadRejected

# The code that goes with each status an upload can be refused with (classifier/intake/validation.py).
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
