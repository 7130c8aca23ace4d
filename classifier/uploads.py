"""The request side shared by every upload endpoint: read one file field, accept it, wait for its result."""

from __future__ import annotations

import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from classifier import intake
from classifier.models import Classification
from classifier.waiting import waiter_for_this_loop

# Room for the multipart envelope around a file of the maximum size.
_ENVELOPE_BYTES = 64 * 1024


async def accept_from(request: HttpRequest, *fields: str) -> tuple[str, Classification]:
    """Validate and accept the file sent in the first of `fields` present; returns that field and the new row.

    Raises intake.UploadRejected with a status and a message for the client.
    """
    declared = int(request.META.get("CONTENT_LENGTH") or 0)
    if declared > settings.UPLOAD_MAX_BYTES + _ENVELOPE_BYTES:
        raise intake.UploadRejected(
            413, f"the request is {declared} bytes; images are limited to {settings.UPLOAD_MAX_BYTES} bytes"
        )
    try:
        field = next((name for name in fields if name in request.FILES), fields[0])
        upload = request.FILES.get(field)
    except MultiPartParserError as exc:
        raise intake.UploadRejected(400, f"malformed multipart body: {exc}") from None
    return field, await sync_to_async(_validate_and_accept)(upload, field)


def _validate_and_accept(upload: UploadedFile | None, field: str) -> Classification:
    # Decoding runs here, off the event loop: a large image must not stall every other caller.
    image = intake.validate(upload, field)
    try:
        return intake.accept(image)
    finally:
        # A synchronous caller then waits for seconds: it must not hold a database connection (a pooled one would
        # be checked out for the whole wait, and 200 waiters would drain any pool).
        connection.close()


async def wait_for_result(request_id: uuid.UUID) -> Classification | None:
    """The finished row, or None after SYNC_WAIT_SECONDS (the request carries on in the background)."""
    waiter = waiter_for_this_loop(settings.RESULT_POLL_SECONDS)
    return await waiter.wait(request_id, settings.SYNC_WAIT_SECONDS)


def timeout_message(request_id: uuid.UUID) -> str:
    return (
        f"timed out after {settings.SYNC_WAIT_SECONDS:g} s waiting for a worker; request {request_id} was accepted "
        f"and will still be classified: GET /api/classifications/{request_id}"
    )
