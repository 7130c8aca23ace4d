"""Hostile uploads against the running web tier: never a 500, never a file outside its storage prefix."""

from __future__ import annotations

import io
import socket
import struct
import uuid
import zlib

import httpx
import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from classifier.models import Classification
from tests.integration.conftest import stored_inputs

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _tiny_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _tiny_png()
names = st.one_of(
    st.text(min_size=0, max_size=300),
    st.sampled_from(
        [
            "../../etc/passwd",
            "..\\..\\win.ini",
            "/abs/x.png",
            "..",
            ".",
            "a/b/../../c.png",
            "ünï©ødé 🐈.png",
            "x" * 1000 + ".png",
            "con.png",
            "\x00.png",
            "%2e%2e%2fx.png",
        ]
    ),
)
bodies = st.one_of(
    st.binary(max_size=2048),
    st.just(b""),
    st.just(PNG),
    st.just(PNG[:40]),  # truncated
    st.builds(lambda junk: PNG + junk, st.binary(max_size=64)),
)
fields = st.sampled_from(["myfile", "inputFile", "file", "image", "", "MYFILE"])
content_types = st.sampled_from(["image/jpeg", "image/png", "text/plain", "application/octet-stream", "x/y;;"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, body=bodies, field=fields, content_type=content_types,
       endpoint=st.sampled_from(["/", "/api/classifications"]))  # fmt: skip
def test_uploads_never_break_the_server(stack, name, body, field, content_type, endpoint) -> None:
    try:
        response = httpx.post(stack.web_url + endpoint, files={field: (name, body, content_type)}, timeout=60)
    except (UnicodeEncodeError, ValueError):
        return  # the client library refused to encode this request: nothing reached the server
    assert response.status_code < 500 or response.status_code == 504, response.text
    if response.status_code >= 400:
        assert response.text.strip(), "an error without a message"


def test_raw_garbage_bodies_and_headers(stack) -> None:
    cases = [
        {"content": b"\xff" * 5000, "headers": {"Content-Type": "multipart/form-data; boundary=zzz"}},
        {"content": b"--zzz\r\nContent-Disposition: form-data; name=\"myfile\"; filename=\"a.jpg\"\r\n\r\nabc",
         "headers": {"Content-Type": "multipart/form-data; boundary=zzz"}},
        {"content": b"myfile=abc", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        {"content": b"{}", "headers": {"Content-Type": "application/json"}},
        {"content": PNG, "headers": {"Content-Type": "multipart/form-data", "X-Huge": "h" * 60_000}},
    ]  # fmt: skip
    for case in cases:
        response = httpx.post(stack.web_url + "/", timeout=30, **case)
        assert 400 <= response.status_code < 500 or response.status_code == 431, (case, response.status_code)


def test_every_stored_input_sits_under_its_request_prefix(stack) -> None:
    for name in ["../../escape.png", "..", "a/b/../../c.png", "ünï©ødé 🐈.png"]:
        response = httpx.post(stack.web_url + "/api/classifications", files={"file": (name, PNG, "image/png")})
        # Django's multipart parser drops a part whose file name is only dots: that is a missing file, 400.
        assert response.status_code == 202 or (response.status_code == 400 and "no file" in response.text)
    assert Classification.objects.count() >= 3
    for row in Classification.objects.all():
        prefix, _, rest = row.input_key.partition("/")
        assert prefix == str(row.pk) and rest and "/" not in rest and rest != ".."
    # What storage actually holds, after these and every fuzzed upload before them (whose rows the database flush
    # between tests took away): each object one level under a request id, nothing anywhere else.
    keys = stored_inputs(stack)
    assert keys
    for key in keys:
        prefix, _, rest = key.partition("/")
        assert str(uuid.UUID(prefix)) == prefix and rest and "/" not in rest and rest not in (".", ".."), key
    if django_settings.STORAGE_BACKEND == "filesystem":
        inputs = django_settings.VAR_DIR / "storage" / "inputs"
        escaped = [path for path in django_settings.VAR_DIR.rglob("escape.png") if inputs not in path.parents]
        assert escaped == []


def _bomb(mode: str, size: tuple[int, int], fmt: str) -> bytes:
    """A small file that decodes to a huge image: one colour compresses to almost nothing."""
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format=fmt)
    return buffer.getvalue()


def _forged_png(width: int, height: int) -> bytes:
    """A valid 16 x 16 PNG whose header (with a correct checksum) claims another size: hardly any data behind it."""
    data = bytearray(_bomb("1", (16, 16), "PNG"))
    header = data[16:29]  # IHDR's data: width, height, depth, colour type, compression, filter, interlace
    header[0:8] = struct.pack(">II", width, height)
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(header)))
    return bytes(data)


BOMBS = [
    pytest.param("bomb.png", _bomb("1", (12_000, 12_000), "PNG"), id="png-144-megapixels"),
    pytest.param("bomb.gif", _bomb("L", (9_000, 9_000), "GIF"), id="gif-81-megapixels"),
    pytest.param("claims.png", _forged_png(65_535, 65_535), id="png-forged-header"),
]


@pytest.mark.parametrize(("name", "data"), BOMBS)
@pytest.mark.parametrize(("endpoint", "field"), [("/", "myfile"), ("/", "inputFile"), ("/api/classifications", "file")])
def test_image_bombs_are_refused_with_400(stack, endpoint: str, field: str, name: str, data: bytes) -> None:
    assert len(data) < 2_000_000  # small on the wire: the danger is in decoding
    response = httpx.post(stack.web_url + endpoint, files={field: (name, data, "image/png")}, timeout=60)
    assert response.status_code == 400, response.text
    assert "pixels" in response.text or "corrupt" in response.text
    assert not Classification.objects.exists()


def test_a_huge_declared_body_is_refused_before_it_is_read(stack) -> None:
    host, port = stack.web_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /api/classifications HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 50000000000\r\n\r\n"
        )
        answer = b""
        while chunk := conn.recv(4096):  # the server closes the connection after its answer
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413")
    assert '"code": "too_large"' in answer
