"""The database down anywhere in a request (a token or session lookup, a status read) is a 503, never a 500.

Uploads turn their own outages into 503s with a precise message (classifier/uploads.py); this middleware catches
what happens before or beside them: DRF's token authentication, the pages' session lookup, a detail read.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from classifier.api.errors import error_response

logger = logging.getLogger(__name__)

MESSAGE = "the service is unavailable right now (database unavailable); try again shortly"


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.error("database unavailable: %s %s answered 503 (%s)", request.method, request.path, exception)
        response = error_response(request, 503, MESSAGE, "unavailable")
        response["Retry-After"] = "5"
        return response
