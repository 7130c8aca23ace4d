"""The request side shared by every upload endpoint: read one file field, accept it, wait for its result."""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from classifier.intake import group_commit
from classifier.intake.acceptance import accept_all
from classifier.intake.group_commit import Outcome, Upload
from classifier.intake.threads import (
    keeps_its_connection,
    on_intake_thread,
    run_on_intake_thread,
    start_intake_thread,
    sync_caller_waits,
)
from classifier.intake.validation import UploadRejected, ValidImage, validate
from classifier.models import Classification
from classifier.results.waiting import waiter_for_this_loop
from common.connections import keep_unless_broken
from common.outages import outage_of

logger = logging.getLogger(__name__)

# Room for the multipart envelope around a file of the maximum size.
ENVELOPE_BYTES = 64 * 1024

# The API's uploads being stored at once, per event loop (the plain uploads queue in group_commit instead). The
# rest wait here, on the loop, holding neither a thread nor a database connection: 200 simultaneous uploads would
# otherwise start 200 threads that queue on a pool of ten connections.
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
    check_declared_length(request.META, settings.UPLOAD_MAX_BYTES)
    upload = Upload(request, fields)
    if sync_caller_waits():
        return await run_on_intake_thread(_accept_alone, upload)
    # Parsing the multipart body reads the spooled upload and may write temporary files: on an intake thread, not
    # on the event loop every waiter shares; with the uploads waiting beside it, as one group.
    return await group_commit.for_this_loop(start_intake_thread, accept_group).accept(upload)


def _accept_alone(upload: Upload) -> tuple[str, Classification]:
    outcome = accept_group([upload])[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def accept_group(uploads: list[Upload]) -> list[Outcome]:
    """Each upload parsed and validated alone, then the valid ones accepted together; an outcome per upload, in order.

    Runs on an intake thread (or a synchronous caller's), and gives its database connection back at the end.
    """
    if on_intake_thread():
        keep_unless_broken()
    try:
        outcomes: dict[int, Outcome] = {}
        valid: dict[int, tuple[str, ValidImage]] = {}
        for index, upload in enumerate(uploads):
            try:
                valid[index] = upload.context.run(_parse_and_validate, upload.request, upload.fields)
            except UploadRejected as exc:
                outcomes[index] = exc
        outcomes.update(_accept_valid(valid))
        return [outcomes[index] for index in range(len(uploads))]
    finally:
        release_connection()


def _accept_valid(valid: dict[int, tuple[str, ValidImage]]) -> dict[int, Outcome]:
    """The valid uploads accepted as one group; if the group fails for a reason other than an outage, one by one, so
    that what fails one upload fails no other."""
    if not valid:
        return {}
    try:
        with refused_while_down():
            rows = accept_all([image for _, image in valid.values()])
    except Exception as exc:
        if len(valid) == 1 or isinstance(exc, UploadRejected):  # alone already, or an outage: each would fail alike
            return dict.fromkeys(valid, exc)
        logger.warning("a group of %d uploads failed; accepting them one by one", len(valid), exc_info=True)
        return {index: _accept_valid({index: pair})[index] for index, pair in valid.items()}
    return {index: (field, row) for (index, (field, _)), row in zip(valid.items(), rows, strict=True)}


def _parse_and_validate(request: HttpRequest, fields: tuple[str, ...]) -> tuple[str, ValidImage]:
    try:
        field = next((name for name in fields if name in request.FILES), fields[0])
        upload = request.FILES.get(field)
    except MultiPartParserError as exc:
        raise UploadRejected(400, f"malformed multipart body: {exc}") from None
    # Decoding runs here, off the event loop: a large image must not stall every other caller.
    return field, validate(upload, field)


def check_declared_length(meta: Mapping[str, Any], max_content_bytes: int) -> None:
    """Refuse a body that says up front it is too large (files plus their multipart envelope), before it is parsed:
    `meta` is the request's META."""
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise UploadRejected(400, "the Content-Length header is not a number") from None
    if declared > max_content_bytes + ENVELOPE_BYTES:
        raise UploadRejected(413, f"the request is {declared} bytes; the limit is {max_content_bytes} bytes")


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
