import uuid

import pytest

from classifier import storage

REQUEST = uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_keys_are_unique_per_request_and_keep_the_name() -> None:
    other = uuid.uuid4()
    assert storage.input_key(REQUEST, "test_0.JPEG") == f"{REQUEST}/test_0.JPEG"
    assert storage.input_key(REQUEST, "test_0.JPEG") != storage.input_key(other, "test_0.JPEG")
    assert storage.output_key(REQUEST, "test_0.JPEG") == f"{REQUEST}/test_0"


def test_output_body_matches_the_course_bucket() -> None:
    assert storage.output_body("test_0.JPEG", "bathtub") == "(test_0, bathtub)"
    assert storage.output_body("dir/photo.final.png", "tabby cat") == "(photo.final, tabby cat)"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("..", "upload"),
        ("", "upload"),
        ("my photo (1).jpg", "my_photo_1.jpg"),
        ("/abs/path/x.png", "x.png"),
    ],
)
def test_names_cannot_escape_the_request_prefix(name: str, expected: str) -> None:
    assert storage.safe_name(name) == expected
    assert storage.input_key(REQUEST, name).startswith(f"{REQUEST}/")
    assert "/" not in storage.input_key(REQUEST, name).removeprefix(f"{REQUEST}/")


def test_very_long_names_are_shortened() -> None:
    assert len(storage.safe_name("a" * 500 + ".jpg")) == storage.MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("test_00.JPEG", "test_00"),
        ("my photo (1).jpg", "my photo (1)"),  # the 2024 generator gets its own name back, not the storage key's
        ("C:\\Users\\me\\cat.final.png", "cat.final"),
        ("a\r\nb.jpg", "ab"),  # the plain-text answer stays one line
        ("", "upload"),
    ],
)
def test_the_original_stem_is_the_clients_name_without_extension(name: str, expected: str) -> None:
    assert storage.original_stem(name) == expected
