"""Errors answer in the caller's format: 503 for a database or storage outage, wherever it hits a request, 413 for
Django's own parsing limits. Never a 500 for an outage, never Django's HTML error page on the API or `POST /`."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from django.db import OperationalError, connection
from django.test import Client

from classifier import dispatch
from classifier.models import Classification
from tests.conftest import IMAGES_DIR
from tests.factories import make_request

JPEG = (IMAGES_DIR / "test_2.JPEG").read_bytes()


def _file(name: str, data: bytes = JPEG) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


@contextmanager
def database_down() -> Iterator[None]:
    """Every query fails the way a lost PostgreSQL connection does."""

    def refuse(execute: object, sql: str, params: object, many: bool, context: object) -> None:
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    with connection.execute_wrapper(refuse):
        yield


@pytest.fixture
def sent(monkeypatch) -> list[Classification]:
    caught: list[Classification] = []
    monkeypatch.setattr(dispatch, "queue_for_classification", caught.append)
    return caught


@pytest.mark.django_db
def test_a_token_lookup_with_the_database_down_is_a_json_503(client: Client) -> None:
    """DRF authenticates before the view runs: its lookup must not turn an outage into a 500."""
    with database_down():
        response = client.post(
            "/api/classifications", {"file": _file("a.JPEG")}, headers={"Authorization": "Token abc"}
        )
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert "database unavailable" in response.json()["error"]
    assert response["Retry-After"]


@pytest.mark.django_db
def test_reads_with_the_database_down_are_503(client: Client) -> None:
    with database_down():
        detail = client.get(f"/api/classifications/{uuid.uuid4()}")
        listing = client.get("/api/classifications")
        page = client.get("/requests/")
    assert (detail.status_code, detail.json()["code"]) == (503, "unavailable")
    assert listing.status_code == 503
    assert page.status_code == 503 and page["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_post_slash_with_auth_on_and_the_database_down_is_a_plain_503(settings) -> None:
    settings.API_AUTH = True
    with database_down():
        response = Client().post("/", {"myfile": _file("a.JPEG")}, headers={"Authorization": "Token abc"})
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert "database unavailable" in response.content.decode()


@pytest.mark.django_db
def test_django_file_count_limit_is_a_413_in_each_format(client: Client, sent, settings) -> None:
    """Past DATA_UPLOAD_MAX_NUMBER_FILES Django refuses to parse at all; the answer must still say why."""
    too_many = settings.DATA_UPLOAD_MAX_NUMBER_FILES + 1
    api = client.post("/api/classifications", {"file": [_file(f"{i}.JPEG", b"x") for i in range(too_many)]})
    assert (api.status_code, api.json()["code"]) == (413, "too_large")
    assert "too many files" in api.json()["error"]
    cse546 = client.post("/", {"myfile": [_file(f"{i}.JPEG", b"x") for i in range(too_many)]})
    assert cse546.status_code == 413 and cse546["Content-Type"].startswith("text/plain")
    assert "too many files" in cse546.content.decode()
    assert not sent and not Classification.objects.exists()


@pytest.mark.django_db
def test_django_field_limits_are_413_json(client: Client, sent, settings) -> None:
    fields = {f"f{i}": "x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    many = client.post("/api/classifications", {**fields, "file": _file("a.JPEG")})
    assert (many.status_code, many.json()["code"]) == (413, "too_large")
    assert "too many form fields" in many.json()["error"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    big = client.post("/api/classifications", {"note": "x" * 2000, "file": _file("a.JPEG")})
    assert (big.status_code, big.json()["code"]) == (413, "too_large")
    assert not sent and not Classification.objects.exists()


@pytest.mark.django_db
def test_an_image_the_bucket_refuses_is_a_503_and_a_missing_one_a_404(client: Client, monkeypatch) -> None:
    from classifier import storage

    row = make_request(original_name="a.JPEG", input_key="k/a.JPEG")

    class Bucket:
        error: Exception

        def open(self, name: str, mode: str = "rb") -> None:
            raise self.error

    bucket = Bucket()
    monkeypatch.setattr(storage, "inputs", lambda: bucket)
    bucket.error = EndpointConnectionError(endpoint_url="https://in.s3.amazonaws.com")
    for path in (f"/requests/{row.pk}/image", f"/requests/{row.pk}/thumbnail"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert "image storage unavailable" in response.content.decode()
    bucket.error = ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "GetObject")
    assert client.get(f"/requests/{row.pk}/image").status_code == 503
    bucket.error = FileNotFoundError("File does not exist: k/a.JPEG")
    assert client.get(f"/requests/{row.pk}/image").status_code == 404
    # Not an outage (a misconfigured policy): a 500 that is logged as one, not a "try again".
    bucket.error = ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "HeadObject")
    client.raise_request_exception = False
    assert client.get(f"/requests/{row.pk}/image").status_code == 500


@pytest.mark.django_db
def test_a_missing_table_is_a_bug_not_an_outage(client: Client) -> None:
    def missing(execute: object, sql: str, params: object, many: bool, context: object) -> None:
        raise OperationalError("no such table: classifier_classification")

    client.raise_request_exception = False
    with connection.execute_wrapper(missing):
        assert client.get("/requests/").status_code == 500


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("make_error", "status"),
    [
        (lambda: EndpointConnectionError(endpoint_url="https://in.s3.amazonaws.com"), 503),
        (lambda: ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "PutObject"), 503),
        (lambda: ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject"), 500),
    ],
)
def test_uploads_and_reads_agree_on_what_is_an_outage(client: Client, sent, monkeypatch, make_error, status) -> None:
    """One rule (common.outages) for the upload path and every other request: a refusal by policy is a logged 500
    everywhere, never a "try again" on one path and a bug on another."""
    from classifier import storage

    class Bucket:
        def save(self, name: str, content: object) -> str:
            raise make_error()

        def open(self, name: str, mode: str = "rb") -> None:
            raise make_error()

        def delete(self, name: str) -> None:
            pass

    row = make_request()
    monkeypatch.setattr(storage, "inputs", lambda: Bucket())
    client.raise_request_exception = False
    read = client.get(f"/requests/{row.pk}/image")
    api = client.post("/api/classifications", {"file": _file("a.JPEG")})
    cse546 = client.post("/", {"myfile": _file("a.JPEG")})
    assert (read.status_code, api.status_code, cse546.status_code) == (status, status, status)
    if status == 503:
        assert api.json()["code"] == "unavailable" and "storage unavailable" in cse546.content.decode()
    assert list(Classification.objects.all()) == [row] and not sent
