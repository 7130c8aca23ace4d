import io

import pytest
from PIL import Image

from classifier.images import CorruptImage, TooManyPixels, UnreadableImage, UnsupportedFormat, decode
from tests.conftest import IMAGES_DIR


def _encoded(fmt: str, size: tuple[int, int] = (32, 24), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color=128 if mode == "L" else (10, 20, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF"])
def test_accepted_formats_decode_to_rgb(fmt: str) -> None:
    decoded = decode(_encoded(fmt))
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (32, 24)
    assert decoded.format == fmt
    assert decoded.mime_type.startswith("image/")


def test_grayscale_is_converted() -> None:
    assert decode(_encoded("PNG", mode="L")).image.mode == "RGB"


def test_real_course_image() -> None:
    decoded = decode((IMAGES_DIR / "test_2.JPEG").read_bytes())
    assert decoded.format == "JPEG"
    assert decoded.mime_type == "image/jpeg"


@pytest.mark.parametrize(
    ("data", "error", "status", "message"),
    [
        (b"", CorruptImage, 400, "empty"),
        (b"hello, I am a text file\n", UnreadableImage, 415, "not an image"),
        (_encoded("PCX"), UnsupportedFormat, 415, "PCX images are not accepted"),
        ((IMAGES_DIR / "test_2.JPEG").read_bytes()[:900], CorruptImage, 400, "truncated"),
    ],
)
def test_bad_bytes_say_what_is_wrong(data: bytes, error: type, status: int, message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        decode(data)
    assert caught.value.http_status == status


def test_pixel_limit_is_checked_before_decoding() -> None:
    with pytest.raises(TooManyPixels, match="more than the limit of 100"):
        decode(_encoded("PNG", size=(20, 20)), max_pixels=100)
