import io

import pytest
from PIL import Image

from classifier.images import CorruptImage, TooManyPixels, UnreadableImage, UnsupportedFormat, check, decode
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
@pytest.mark.parametrize("read", [decode, check])
def test_bad_bytes_say_what_is_wrong(read, data: bytes, error: type, status: int, message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        read(data)
    assert caught.value.http_status == status


@pytest.mark.parametrize("read", [decode, check])
def test_pixel_limit_is_checked_before_decoding(read) -> None:
    with pytest.raises(TooManyPixels, match="more than the limit of 100"):
        read(_encoded("PNG", size=(20, 20)), max_pixels=100)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF"])
def test_check_reports_what_decode_finds(fmt: str) -> None:
    data = _encoded(fmt, size=(640, 480))
    checked, decoded = check(data), decode(data)
    assert (checked.width, checked.height) == decoded.image.size == (640, 480)  # the JPEG's, not its eighth
    assert (checked.format, checked.mime_type) == (decoded.format, decoded.mime_type)


@pytest.mark.parametrize("cut", [2, 40, 400])
def test_check_still_reads_every_byte_of_a_jpeg(cut: int) -> None:
    """Decoding at an eighth of the size skips most of the work, not the data: a JPEG cut anywhere is refused."""
    data = _encoded("JPEG", size=(640, 480))
    with pytest.raises(CorruptImage, match="truncated"):
        check(data[:-cut])
