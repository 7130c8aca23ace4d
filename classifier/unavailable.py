"""A dependency down anywhere in a request (the database for a token or session lookup or a read, S3 for an image)
is a 503 that says which, never a 500. Only outages: a refused connection, a timeout, throttling, a 5xx. Anything
else stays a 500, so a bug or a misconfiguration is not dressed up as "try again".

Uploads turn their own outages into 503s with a precise message (classifier/uploads.py); this middleware catches
what happens before or beside them: DRF's token authentication, the pages' session lookup, a detail read, an image
or thumbnail read from the bucket.
"""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from classifier.api.errors import error_response
from classifier.failures import is_transient

logger = logging.getLogger(__name__)

DATABASE_DOWN = "the service is unavailable right now (database unavailable); try again shortly"
STORAGE_DOWN = "the service is unavailable right now (image storage unavailable); try again shortly"


class ServiceUnavailableMiddleware(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if _database_unreachable(exception):
            message = DATABASE_DOWN
        elif is_transient(exception) and isinstance(exception, (BotoCoreError, ClientError)):
            message = STORAGE_DOWN
        else:
            return None  # a bug or a misconfiguration: Django's 500, logged with its traceback
        logger.error("%s %s answered 503", request.method, request.path, exc_info=exception)
        response = error_response(request, 503, message, "unavailable")
        response["Retry-After"] = "5"
        return response


def _database_unreachable(exception: Exception) -> bool:
    """A lost or refused connection, not SQLite's "no such table" (a missed migration is a bug, not an outage)."""
    if not isinstance(exception, (OperationalError, InterfaceError)):
        return False
    return not str(exception).startswith(("no such table", "no such column"))
