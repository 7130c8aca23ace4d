"""Where images and results live: object keys, the output body, and the two storages (disk or S3 by setting: the S3
one is fastpaths/django_storages.py's, or django-storages' own with FAST_PATHS off)."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import PurePosixPath

from django.core.files.storage import Storage, storages
from django.utils.text import get_valid_filename

MAX_NAME_LENGTH = 120


def safe_name(original_name: str) -> str:
    """A file name that is safe as the last part of a key: no folders, no traversal, nothing odd."""
    base = PurePosixPath(original_name.replace("\\", "/")).name
    try:
        cleaned = get_valid_filename(base)
    except Exception:  # get_valid_filename raises SuspiciousFileOperation for names like ".."
        cleaned = ""
    return cleaned[-MAX_NAME_LENGTH:] or "upload"


def name_stem(original_name: str) -> str:
    """The image name without its extension, as the course's output bucket uses it."""
    return PurePosixPath(safe_name(original_name)).stem or "upload"


def original_stem(original_name: str) -> str:
    """The client's own file name without folders or extension, as the 2024 generator expects it back
    (`my photo (1).jpg` -> `my photo (1)`); unprintable characters dropped so the answer stays one line."""
    base = original_name.replace("\\", "/").rsplit("/", 1)[-1]
    stem = "".join(char for char in PurePosixPath(base).stem if char.isprintable()) if base else ""
    return stem or "upload"


def input_key(request_id: uuid.UUID, original_name: str) -> str:
    # The request id makes the key unique: two uploads of test_0.JPEG are two objects.
    return f"{request_id}/{safe_name(original_name)}"


def output_key(request_id: uuid.UUID | str, original_name: str) -> str:
    return f"{request_id}/{name_stem(original_name)}"


def output_body(original_name: str, label: str) -> str:
    """The course's output object: `(test_0, bathtub)`."""
    return f"({name_stem(original_name)}, {label})"


def saving_together(store: Storage) -> contextlib.AbstractContextManager[None]:
    """Saves made inside go out together at its end where the storage can (S3's, fastpaths/django_storages.py),
    one by one as they are made elsewhere."""
    together = getattr(store, "saves_together", None)
    return together() if together is not None else contextlib.nullcontext()


def inputs() -> Storage:
    return storages["inputs"]


def outputs() -> Storage:
    return storages["outputs"]
