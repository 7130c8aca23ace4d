"""Decoding images with Pillow, shared by upload validation (web tier) and preprocessing (workers)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# Formats a client may send; anything else Pillow happens to read (PDF, EPS, ICNS…) is refused.
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "MPO"})
# The file names commands pick out of a folder as images (the bare model's `classify`, the load generator).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


class UnreadableImage(ValueError):
    """The bytes are not an image we can decode. `http_status` is what a web client is told."""

    http_status = 415


class UnsupportedFormat(UnreadableImage):
    """An image Pillow recognises, in a format we do not accept."""


class CorruptImage(UnreadableImage):
    """Empty, truncated or damaged image data."""

    http_status = 400


class TooManyPixels(UnreadableImage):
    """Over the pixel limit: a decompression bomb, or just too big to classify."""

    http_status = 400


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB
    format: str
    mime_type: str


@dataclass(frozen=True)
class CheckedImage:
    format: str
    mime_type: str
    width: int
    height: int


def decode(data: bytes, max_pixels: int | None = None) -> DecodedImage:
    """Decode fully (so a truncated file fails here, not later) and convert to RGB."""
    with _opened(data, max_pixels) as image:
        image.load()
        return DecodedImage(image.convert("RGB"), image.format or "unknown", _mime_type(image))


def check(data: bytes, max_pixels: int | None = None) -> CheckedImage:
    """What decode() would refuse, refused for less: the same format and pixel checks, and every byte decoded (a
    truncated or damaged file fails here), but a JPEG at an eighth of its size, where most of the decoding cost is,
    and nothing converted. For the web tier, which keeps the bytes and classifies nothing."""
    with _opened(data, max_pixels) as image:
        width, height = image.size
        if image.format in ("JPEG", "MPO"):
            image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
        image.load()
        return CheckedImage(image.format or "unknown", _mime_type(image), width, height)


def _mime_type(image: Image.Image) -> str:
    return image.get_format_mimetype() or "application/octet-stream"  # type: ignore[attr-defined]


@contextmanager
def _opened(data: bytes, max_pixels: int | None) -> Iterator[Image.Image]:
    """The image, its format and size checked and nothing decoded yet; Pillow's errors become UnreadableImage."""
    if not data:
        raise CorruptImage("the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or "unknown"
            if image_format not in ACCEPTED_FORMATS:
                accepted = ", ".join(sorted(ACCEPTED_FORMATS - {"MPO"}))
                raise UnsupportedFormat(f"{image_format} images are not accepted; send one of {accepted}")
            if max_pixels is not None and image.width * image.height > max_pixels:
                raise TooManyPixels(
                    f"the image is {image.width}x{image.height} pixels, more than the limit of {max_pixels}"
                )
            yield image
    except UnreadableImage:
        raise
    except UnidentifiedImageError:
        raise UnreadableImage("the file is not an image in a supported format") from None
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"the image is too large to decode safely: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptImage(f"the image is corrupt or truncated: {exc}") from None
