"""Accepting an upload (web tier): validate it, store the image, insert the row, and queue it once committed."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
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
        raise UploadRejected(400, f"no file: send the image as the multipart/form-data field {field!r}")
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
    """Store the image and its row; the classify message goes out only after the row is committed.

    If the send fails after the commit, the row stays queued and is sent again later: the database is the truth.
    """
    request_id = uuid.uuid4()
    content = ContentFile(image.data)
    content.content_type = image.mime_type  # type: ignore[attr-defined]
    # S3 user metadata is ASCII only: keep the exact original name, percent-encoded.
    content.metadata = {"original-name": quote(image.name)}  # type: ignore[attr-defined]
    key = storage.inputs().save(storage.input_key(request_id, image.name), content)
    with transaction.atomic():
        row = Classification.objects.create(
            id=request_id,
            original_name=image.name[:255],
            input_key=key,
            content_type=image.mime_type,
            size_bytes=len(image.data),
            width=image.width,
            height=image.height,
        )
        transaction.on_commit(lambda: send_for_classification(row), robust=True)
    return row


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
