"""A dependency down anywhere in a request (the database for a token or session lookup or a read, S3 for an image)
is a 503 that says which, never a 500. What counts as an outage is common.outages' rule, the same one the upload
path applies to its own errors (classifier/intake/http.py); anything else stays a logged 500, so a bug or a
misconfiguration is not dressed up as "try again".

Uploads answer their own outages with a message about the upload; this middleware catches what happens before or
beside them: DRF's token authentication, the pages' session lookup, a detail read, an image or thumbnail read.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.utils.deprecation import MiddlewareMixin

from classifier.web.errors import error_response
from common.outages import Outage, outage_of

logger = logging.getLogger(__name__)

MESSAGES = {
    Outage.DATABASE: "the service is unavailable right now (database unavailable); try again shortly",
    Outage.STORAGE: "the service is unavailable right now (image storage unavailable); try again shortly",
}


class ServiceUnavailableMiddleware(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        outage = outage_of(exception)
        if outage is None:
            return None  # a bug or a misconfiguration: Django's 500, logged with its traceback
        logger.error("%s %s answered 503", request.method, request.path, exc_info=exception)
        response = error_response(request, 503, MESSAGES[outage], "unavailable")
        response["Retry-After"] = "5"
        return response
