"""Small JPEG previews of stored images, for the pages and the admin list."""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from classifier import storage

SIZE = (160, 160)
CONTENT_TYPE = "image/jpeg"


def thumbnail_of(input_key: str) -> bytes:
    """A JPEG at most SIZE, upright (EXIF orientation applied). Raises FileNotFoundError when the image is gone."""
    with storage.inputs().open(input_key, "rb") as handle, Image.open(handle) as image:
        image.draft("RGB", SIZE)  # JPEG decodes at 1/2..1/8 scale directly: a large photo costs a fraction
        picture = ImageOps.exif_transpose(image).convert("RGB")
        picture.thumbnail(SIZE)
        out = io.BytesIO()
        picture.save(out, "JPEG", quality=80)
    return out.getvalue()
