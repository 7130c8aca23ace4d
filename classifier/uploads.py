"""The request side shared by every upload endpoint: read one file field, accept it, wait for its result."""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref

from asgiref.sync import sync_to_async
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from classifier import intake
from classifier.models import Classification
from classifier.waiting import waiter_for_this_loop

logger = logging.getLogger(__name__)

# Room for the multipart envelope around a file of the maximum size.
_ENVELOPE_BYTES = 64 * 1024

# Uploads being stored at once, per event loop. The rest wait here, on the loop, holding neither a thread nor a
# database connection: 200 simultaneous uploads otherwise start 200 threads that queue on a pool of ten connections.
_intake_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _intake_slots.get(loop)
    if slots is None:
        slots = _intake_slots[loop] = asyncio.Semaphore(settings.INTAKE_CONCURRENCY)
    return slots


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
    async with _slots():
        return field, await sync_to_async(_validate_and_accept)(upload, field)


def _validate_and_accept(upload: UploadedFile | None, field: str) -> Classification:
    # Decoding runs here, off the event loop: a large image must not stall every other caller.
    image = intake.validate(upload, field)
    try:
        return intake.accept(image)
    except (OperationalError, InterfaceError):
        logger.exception("database unavailable: upload refused")
        raise intake.UploadRejected(503, "the service cannot accept uploads right now (database unavailable)") from None
    except (OSError, BotoCoreError, ClientError):
        logger.exception("image storage unavailable: upload refused")
        raise intake.UploadRejected(503, "the service cannot accept uploads right now (storage unavailable)") from None
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
