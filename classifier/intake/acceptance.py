"""Keeping what was accepted: store the images, insert their rows, all or none, and queue them once committed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from urllib.parse import quote

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from classifier import dispatch, storage
from classifier.intake.validation import ValidImage
from classifier.models import Classification
from common import metrics

logger = logging.getLogger(__name__)


def accept_all(
    images: list[ValidImage],
    before_commit: Callable[[list[Classification]], None] | None = None,
    *,
    ttl: float | None = None,
) -> list[Classification]:
    """Store the images and their rows, all or none; the classify messages go out only after the commit.

    `ttl`: seconds the client will wait for the answers (validated by the caller); past them, a worker does not
    classify the requests and they end expired.

    `before_commit` runs inside the transaction with the new rows (the API records an idempotency key there); if it
    or an insert raises, no row is kept and the objects already stored are deleted again, so a refused upload
    leaves nothing behind. If the commit itself fails, the outcome is unknown and the objects stay. If a send fails
    after the commit, the row stays queued and the sweeper sends it again: the database is the truth.
    """
    stored: list[tuple[uuid.UUID, str, ValidImage]] = []
    committing = False
    expires_at = timezone.now() + timedelta(seconds=ttl) if ttl is not None else None
    try:
        with storage.saving_together(storage.inputs()):  # S3: the group's images stored at once
            for image in images:
                request_id = uuid.uuid4()
                stored.append((request_id, _store(request_id, image), image))
        rows = [
            Classification(
                id=request_id,
                original_name=image.name[:255],
                input_key=key,
                content_type=image.mime_type,
                size_bytes=len(image.data),
                width=image.width,
                height=image.height,
                expires_at=expires_at,
            )
            for request_id, key, image in stored
        ]
        with transaction.atomic():
            Classification.objects.bulk_create(rows)  # one INSERT for the group
            if before_commit is not None:
                before_commit(rows)
            for row in rows:
                transaction.on_commit(_sender(row), robust=True)
            committing = True
    except BaseException:
        if committing:
            # The COMMIT itself failed (the connection dropped): the rows may be in the database all the same. Keep
            # the images; if the rows are there, the sweeper sends them, and a stray object costs nothing.
            logger.warning("commit of %d upload(s) failed; their images are kept in case it went through", len(stored))
        else:
            _forget(key for _, key, _ in stored)
        raise
    metrics.REQUESTS.labels("accepted").inc(len(rows))
    return rows


def _sender(row: Classification) -> Callable[[], None]:
    """The after-commit send of one row. A named function, not a `partial`: when a robust hook fails Django logs it
    by its `__qualname__`, and a partial has none (the AttributeError escaped the commit, which had gone through,
    and a request the service had accepted was answered 500)."""

    def send_after_commit() -> None:
        dispatch.queue_for_classification(row)

    return send_after_commit


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
