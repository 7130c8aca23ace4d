"""`Idempotency-Key` for submissions: a retried POST returns the requests its first attempt created.

A client that lost the answer to a submission (a timeout, a dropped connection) sends it again with the same key
and gets the same ids back instead of a second set of classifications. The key is recorded in the same transaction
as the rows it stands for, so a key never points at requests that were not kept; two attempts racing with one key
meet at the unique constraint, and the loser's rows are rolled back (accept_all deletes its stored images).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError
from django.utils import timezone

from classifier.intake.acceptance import accept_all
from classifier.intake.validation import ValidImage
from classifier.models import Classification, IdempotencyKey

MAX_KEY_LENGTH = 255
# How long a key is remembered: a client retries within minutes; a day covers a retry after an outage.
KEY_LIFETIME = timedelta(hours=24)


class KeyReused(Exception):
    """The key was already used for a submission of different files."""


@dataclass(frozen=True)
class Submission:
    rows: list[Classification]
    replayed: bool  # True: these are the first attempt's requests, nothing new was created


def check_key(key: str) -> str | None:
    """A problem with the header's value, or None when it is usable."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters"
    if not key.isprintable() or not key.isascii():
        return "Idempotency-Key must be printable ASCII"
    return None


def fingerprint(images: list[ValidImage]) -> str:
    digest = hashlib.sha256()
    for image in images:
        digest.update(hashlib.sha256(image.data).digest())
    return digest.hexdigest()


def submit(images: list[ValidImage], key: str | None, scope: str, *, ttl: float | None = None) -> Submission:
    """Accept the images, or, for a key seen before with the same files, return the requests it created then."""
    if key is None:
        return Submission(accept_all(images, ttl=ttl), replayed=False)
    files_print = fingerprint(images)
    earlier = _replay(key, scope, files_print)
    if earlier is not None:
        return earlier

    def remember(rows: list[Classification]) -> None:
        IdempotencyKey.objects.create(
            key=key, scope=scope, fingerprint=files_print, request_ids=[str(row.pk) for row in rows]
        )

    try:
        return Submission(accept_all(images, before_commit=remember, ttl=ttl), replayed=False)
    except IntegrityError:
        # Another attempt with this key committed first: answer with its requests.
        earlier = _replay(key, scope, files_print)
        if earlier is None:
            raise
        return earlier


def _replay(key: str, scope: str, files_print: str) -> Submission | None:
    # An expired key the sweeper has not deleted yet no longer counts (a new key row then replaces it).
    IdempotencyKey.objects.filter(key=key, scope=scope, created_at__lt=timezone.now() - KEY_LIFETIME).delete()
    record = IdempotencyKey.objects.filter(key=key, scope=scope).first()
    if record is None:
        return None
    if record.fingerprint != files_print:
        raise KeyReused(f"Idempotency-Key {key!r} was already used for a different set of files")
    ids = [uuid.UUID(value) for value in record.request_ids]
    by_id = Classification.objects.in_bulk(ids)
    return Submission([by_id[pk] for pk in ids if pk in by_id], replayed=True)


def forget_expired(now: datetime, lifetime: timedelta = KEY_LIFETIME) -> int:
    """Drop keys older than their lifetime (the sweeper calls this): a retry after that creates new requests."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=now - lifetime).delete()
    return deleted
