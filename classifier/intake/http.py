"""The request side shared by every upload endpoint: read one file field, accept it, wait for its result."""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import connection
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from classifier.intake.acceptance import accept
from classifier.intake.threads import keeps_its_connection, run_on_intake_thread
from classifier.intake.validation import UploadRejected, validate
from classifier.models import Classification
from classifier.results.waiting import waiter_for_this_loop
from common.outages import outage_of

logger = logging.getLogger(__name__)

# Room for the multipart envelope around a file of the maximum size.
ENVELOPE_BYTES = 64 * 1024

# Uploads being stored at once, per event loop. The rest wait here, on the loop, holding neither a thread nor a
# database connection: 200 simultaneous uploads otherwise start 200 threads that queue on a pool of ten connections.
_intake_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _intake_slots.get(loop)
    if slots is None:
        slots = _intake_slots[loop] = asyncio.Semaphore(settings.INTAKE_CONCURRENCY)
    return slots


@asynccontextmanager
async def intake_slot() -> AsyncIterator[None]:
    """Hold one of this process's intake slots while an upload is validated and stored."""
    async with _slots():
        yield


async def accept_from(request: HttpRequest, *fields: str) -> tuple[str, Classification]:
    """Validate and accept the file sent in the first of `fields` present; returns that field and the new row.

    Raises UploadRejected with a status and a message for the client.
    """
    check_declared_length(request, settings.UPLOAD_MAX_BYTES)
    async with intake_slot():
        # Parsing the multipart body reads the spooled upload and may write temporary files: in a thread, not on
        # the event loop every waiter shares.
        return await run_on_intake_thread(_parse_validate_and_accept, request, fields)


def _parse_validate_and_accept(request: HttpRequest, fields: tuple[str, ...]) -> tuple[str, Classification]:
    try:
        field = next((name for name in fields if name in request.FILES), fields[0])
        upload = request.FILES.get(field)
    except MultiPartParserError as exc:
        raise UploadRejected(400, f"malformed multipart body: {exc}") from None
    return field, _validate_and_accept(upload, field)


def check_declared_length(request: HttpRequest, max_content_bytes: int) -> None:
    """Refuse a body that says up front it is too large (files plus their multipart envelope), before it is parsed."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise UploadRejected(400, "the Content-Length header is not a number") from None
    if declared > max_content_bytes + ENVELOPE_BYTES:
        raise UploadRejected(413, f"the request is {declared} bytes; the limit is {max_content_bytes} bytes")


def _validate_and_accept(upload: UploadedFile | None, field: str) -> Classification:
    # Decoding runs here, off the event loop: a large image must not stall every other caller.
    image = validate(upload, field)
    try:
        with refused_while_down():
            return accept(image)
    finally:
        release_connection()


def release_connection() -> None:
    """Give this thread's database connection back before the caller waits.

    A synchronous caller waits for seconds: it must not hold a connection meanwhile (a pooled one would be checked
    out for the whole wait, and 200 waiters would drain any pool). Never inside a transaction (a test's). An intake
    thread keeps a SQLite connection: it waits for nothing, and opening one costs more than an upload's insert.
    """
    if not connection.in_atomic_block and not keeps_its_connection():
        connection.close()


@contextmanager
def refused_while_down() -> Iterator[None]:
    """Turn "the database or the image store is down" into a 503 for the client; anything else stays an error.

    The same rule as every other request's (common.outages): a refusal by policy or a missing table is a logged 500,
    not a "try again".
    """
    try:
        yield
    except Exception as exc:
        outage = outage_of(exc)
        if outage is None:
            raise
        logger.exception("%s unavailable: upload refused", outage)
        raise UploadRejected(503, f"the service cannot accept uploads right now ({outage} unavailable)") from None


async def wait_for_result(request_id: uuid.UUID) -> Classification | None:
    """The finished row, or None after SYNC_WAIT_SECONDS (the request carries on in the background)."""
    waiter = waiter_for_this_loop(settings.RESULT_POLL_SECONDS)
    return await waiter.wait(request_id, settings.SYNC_WAIT_SECONDS)


def timeout_message(request_id: uuid.UUID) -> str:
    return (
        f"timed out after {settings.SYNC_WAIT_SECONDS:g} s waiting for a worker; request {request_id} was accepted "
        f"and will still be classified: GET /api/classifications/{request_id}"
    )
