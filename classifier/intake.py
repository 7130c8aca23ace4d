"""Accepting an upload (web tier): validate it, store the image, insert the row, and queue it once committed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from classifier import storage
from classifier.images import UnreadableImage, decode
from classifier.models import Classification, Status

logger = logging.getLogger(__name__)


class UploadRejected(Exception):
    """An upload we refuse, with the HTTP status and a message for the client. Nothing was stored."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ValidImage:
    name: str
    data: bytes
    mime_type: str
    width: int
    height: int


def validate(upload: UploadedFile | None, field: str) -> ValidImage:
    if upload is None:
        raise UploadRejected(400, f"no file: send the image as a multipart/form-data part named {field!r}")
    name = upload.name or "upload"
    if upload.size is not None and upload.size > settings.UPLOAD_MAX_BYTES:
        raise UploadRejected(413, f"{name} is {upload.size} bytes; the limit is {settings.UPLOAD_MAX_BYTES} bytes")
    data = upload.read()
    try:
        decoded = decode(data, settings.UPLOAD_MAX_PIXELS)
    except UnreadableImage as exc:
        raise UploadRejected(exc.http_status, f"{name}: {exc}") from None
    return ValidImage(name, data, decoded.mime_type, decoded.image.width, decoded.image.height)


def accept(image: ValidImage) -> Classification:
    """Store one image and its row; see accept_all."""
    return accept_all([image])[0]


def accept_all(
    images: list[ValidImage], before_commit: Callable[[list[Classification]], None] | None = None
) -> list[Classification]:
    """Store the images and their rows, all or none; the classify messages go out only after the commit.

    `before_commit` runs inside the transaction with the new rows (the API records an idempotency key there); if it
    or an insert raises, no row is kept and the objects already stored are deleted again, so a refused upload
    leaves nothing behind. If the commit itself fails, the outcome is unknown and the objects stay. If a send fails
    after the commit, the row stays queued and the sweeper sends it again: the database is the truth.
    """
    stored: list[tuple[uuid.UUID, str, ValidImage]] = []
    committing = False
    try:
        for image in images:
            request_id = uuid.uuid4()
            stored.append((request_id, _store(request_id, image), image))
        with transaction.atomic():
            rows = [
                Classification.objects.create(
                    id=request_id,
                    original_name=image.name[:255],
                    input_key=key,
                    content_type=image.mime_type,
                    size_bytes=len(image.data),
                    width=image.width,
                    height=image.height,
                )
                for request_id, key, image in stored
            ]
            if before_commit is not None:
                before_commit(rows)
            for row in rows:
                transaction.on_commit(partial(send_for_classification, row), robust=True)
            committing = True
    except BaseException:
        if committing:
            # The COMMIT itself failed (the connection dropped): the rows may be in the database all the same. Keep
            # the images; if the rows are there, the sweeper sends them, and a stray object costs nothing.
            logger.warning("commit of %d upload(s) failed; their images are kept in case it went through", len(stored))
        else:
            _forget(key for _, key, _ in stored)
        raise
    return rows


def _store(request_id: uuid.UUID, image: ValidImage) -> str:
    content = ContentFile(image.data)
    content.content_type = image.mime_type  # type: ignore[attr-defined]
    # S3 user metadata is ASCII only: keep the exact original name, percent-encoded.
    content.metadata = {"original-name": quote(image.name)}  # type: ignore[attr-defined]
    return storage.inputs().save(storage.input_key(request_id, image.name), content)


def _forget(keys: Iterable[str]) -> None:
    """Delete objects stored for an upload that was not accepted after all (best effort: the store may be down)."""
    for key in keys:
        try:
            storage.inputs().delete(key)
        except Exception:
            logger.warning("could not delete %s, stored for a refused upload", key, exc_info=True)


def send_for_classification(row: Classification) -> None:
    from classifier.tasks import classify

    classify.apply_async(args=[str(row.id), row.input_key, row.original_name])
    logger.info("queued %s (%s)", row.id, row.original_name)


def rerun_failed(rows: list[Classification]) -> int:
    """Queue failed requests again (an operator's decision, after fixing the cause). Returns how many went."""
    sent = 0
    for row in rows:
        claimed = Classification.objects.filter(pk=row.pk, status=Status.FAILED).update(
            status=Status.QUEUED, error="", dispatches=F("dispatches") + 1, dispatched_at=timezone.now()
        )
        if claimed:
            send_for_classification(row)
            sent += 1
    return sent
