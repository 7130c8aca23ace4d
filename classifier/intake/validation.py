"""What an upload must be before anything is stored: a file within the size and pixel limits, an image we can decode."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from classifier.images import UnreadableImage, check


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
        checked = check(data, settings.UPLOAD_MAX_PIXELS)
    except UnreadableImage as exc:
        raise UploadRejected(exc.http_status, f"{name}: {exc}") from None
    return ValidImage(name, data, checked.mime_type, checked.width, checked.height)
