"""The JSON API through Django's test client: submissions, idempotency, long polls, the list, errors, auth."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from PIL import Image

from classifier import dispatch
from classifier.models import Classification, IdempotencyKey, Status
from tests.conftest import IMAGES_DIR
from tests.factories import make_request

JPEG = (IMAGES_DIR / "test_2.JPEG").read_bytes()
OTHER_JPEG = (IMAGES_DIR / "test_3.JPEG").read_bytes()


def _file(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def _post(client: Client, *files: tuple[str, bytes], **headers: str):
    return client.post("/api/classifications", {"file": [_file(n, d) for n, d in files]}, headers=headers)


@pytest.fixture
def sent(monkeypatch) -> list[Classification]:
    """The classify messages the API sends (after commit), caught at the thin seam before Celery."""
    caught: list[Classification] = []
    monkeypatch.setattr(dispatch, "queue_for_classification", caught.append)
    return caught


@pytest.fixture
def stored_files(settings, tmp_path) -> Path:
    settings.STORAGES = {
        **settings.STORAGES,
        "inputs": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    return tmp_path


def _objects(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


@pytest.mark.django_db
def test_many_files_become_many_requests_sent_after_commit(
    client: Client, sent, stored_files, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, ("a.JPEG", JPEG), ("b.JPEG", OTHER_JPEG))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["count"] == 2
    assert [item["file_name"] for item in body["results"]] == ["a.JPEG", "b.JPEG"]
    assert all(item["status"] == "queued" for item in body["results"])
    assert body["results"][0]["status_url"] == f"http://testserver/api/classifications/{body['results'][0]['id']}"
    assert "Location" not in response
    assert sorted(str(row.pk) for row in sent) == sorted(item["id"] for item in body["results"])
    assert len(_objects(stored_files)) == 2


@pytest.mark.django_db
def test_one_file_gets_a_location(client: Client, sent, stored_files) -> None:
    response = _post(client, ("test_2.JPEG", JPEG))
    assert response.status_code == 202
    assert response["Location"] == f"/api/classifications/{response.json()['results'][0]['id']}"


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("files", "status", "code", "message"),
    [
        ([], 400, "invalid_upload", "no file"),
        ([("empty.jpg", b"")], 400, "invalid_upload", "empty.jpg: the file is empty"),
        ([("notes.jpg", b"just some text")], 415, "unsupported_media_type", "not an image"),
        ([("cut.jpg", JPEG[:900])], 400, "invalid_upload", "corrupt or truncated"),
        ([("big.png", _png(5000, 5000))], 400, "invalid_upload", "more than the limit"),
        ([("good.JPEG", JPEG), ("bad.jpg", b"text")], 415, "unsupported_media_type", "bad.jpg"),
    ],
)
def test_bad_uploads_get_4xx_json_and_nothing_is_kept(
    client: Client, sent, stored_files, settings, files, status: int, code: str, message: str
) -> None:
    settings.UPLOAD_MAX_PIXELS = 4000 * 4000
    response = _post(client, *files)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == code
    assert message in response.json()["error"]
    assert Classification.objects.count() == 0
    assert _objects(stored_files) == []
    assert sent == []


@pytest.mark.django_db
def test_size_and_count_limits_give_413(client: Client, sent, stored_files, settings) -> None:
    settings.UPLOAD_MAX_BYTES = 1000
    assert _post(client, ("test_2.JPEG", JPEG)).status_code == 413
    settings.UPLOAD_MAX_BYTES = 10 * 1024 * 1024
    settings.API_MAX_FILES = 2
    response = _post(client, ("a.JPEG", JPEG), ("b.JPEG", JPEG), ("c.JPEG", JPEG))
    assert (response.status_code, response.json()["code"]) == (413, "too_large")
    assert "the limit is 2" in response.json()["error"]


@pytest.mark.django_db
def test_json_body_is_415(client: Client) -> None:
    response = client.post("/api/classifications", {"file": "x"}, content_type="application/json")
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


@pytest.mark.django_db
def test_idempotency_key_replays_the_first_submission(client: Client, sent, stored_files) -> None:
    first = _post(client, ("a.JPEG", JPEG), ("b.JPEG", OTHER_JPEG), **{"Idempotency-Key": "batch-7"})
    again = _post(client, ("a.JPEG", JPEG), ("b.JPEG", OTHER_JPEG), **{"Idempotency-Key": "batch-7"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert [i["id"] for i in again.json()["results"]] == [i["id"] for i in first.json()["results"]]
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Classification.objects.count() == 2
    assert len(_objects(stored_files)) == 2  # the replay stored nothing

    other = _post(client, ("c.JPEG", OTHER_JPEG), **{"Idempotency-Key": "batch-7"})
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    bad = _post(client, ("a.JPEG", JPEG), **{"Idempotency-Key": "x" * 256})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_idempotency_key")
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.django_db
def test_a_key_is_recorded_with_its_rows_or_not_at_all(client: Client, sent, stored_files, monkeypatch) -> None:
    """If the submission fails after storing images, neither rows, key nor objects stay behind."""

    def broken_create(**_: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(IdempotencyKey.objects, "create", broken_create)
    with pytest.raises(RuntimeError):
        _post(client, ("a.JPEG", JPEG), **{"Idempotency-Key": "k"})
    assert Classification.objects.count() == 0
    assert _objects(stored_files) == []


@pytest.mark.django_db
def test_detail_404_and_bad_wait_are_json(client: Client) -> None:
    missing = client.get("/api/classifications/00000000-0000-0000-0000-000000000000")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    row = make_request()
    for wait in ("soon", "-1", "nan", "1000"):
        response = client.get(f"/api/classifications/{row.pk}?wait={wait}")
        assert response.status_code == 400, wait
        assert response.json()["error"].startswith("wait:")
    unknown = client.get("/api/no-such-thing")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


@pytest.mark.django_db(transaction=True)
def test_wait_returns_as_soon_as_the_result_is_recorded(client: Client, settings) -> None:
    settings.RESULT_POLL_SECONDS = 0.02
    row = make_request()

    def finish_later() -> None:
        time.sleep(0.5)
        Classification.objects.filter(pk=row.pk).update(status=Status.DONE, label="monarch butterfly")

    threading.Thread(target=finish_later).start()
    started = time.monotonic()
    body = client.get(f"/api/classifications/{row.pk}?wait=10").json()
    elapsed = time.monotonic() - started
    assert (body["status"], body["label"]) == ("done", "monarch butterfly")
    assert 0.4 < elapsed < 5

    started = time.monotonic()
    assert client.get(f"/api/classifications/{make_request().pk}?wait=0.3").json()["status"] == "queued"
    assert time.monotonic() - started >= 0.3


@pytest.mark.django_db
def test_list_filters_and_pages(client: Client) -> None:
    done = [make_request(status=Status.DONE, label="tabby", original_name=f"cat{i}.jpg") for i in range(3)]
    make_request(status=Status.FAILED, error="unreadable image")
    make_request()
    body = client.get("/api/classifications?status=done&label=TABBY&page_size=2").json()
    assert body["count"] == 3
    assert len(body["results"]) == 2 and body["next"]
    assert {item["id"] for item in body["results"]} <= {str(row.pk) for row in done}
    assert client.get("/api/classifications?file_name=cat1").json()["count"] == 1
    assert client.get("/api/classifications?since=2999-01-01T00:00:00Z").json()["count"] == 0
    assert client.get("/api/classifications?until=2999-01-01T00:00:00Z").json()["count"] == 5
    bad = client.get("/api/classifications?status=exploded")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_choice")
    assert client.get("/api/classifications?since=yesterday").status_code == 400
    # Offsets PostgreSQL cannot store (beyond ±15:59) are converted to UTC first; leaving the calendar is a 400.
    assert client.get("/api/classifications", {"since": "2020-07-04T01:43:18-20:14"}).json()["count"] == 5
    out_of_range = client.get("/api/classifications", {"until": "0001-01-01T00:00:00+05:00"})
    assert (out_of_range.status_code, out_of_range.json()["code"]) == (400, "invalid")


@pytest.mark.django_db
def test_auth_switch_guards_api_cse546_and_pages(client: Client, settings, sent, stored_files) -> None:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    settings.API_AUTH = True
    refused = _post(client, ("a.JPEG", JPEG))
    assert (refused.status_code, refused.json()["code"]) == (401, "not_authenticated")
    assert refused["WWW-Authenticate"] == "Token"
    assert client.get("/api/classifications").status_code == 401
    plain = client.post("/", {"myfile": _file("a.JPEG", JPEG)})
    assert (plain.status_code, plain["Content-Type"]) == (401, "text/plain; charset=utf-8")
    assert client.get("/").status_code == 302 and "/accounts/login/" in client.get("/")["Location"]
    assert client.get("/status/").status_code == 302
    assert client.get("/api/schema/").status_code == 200  # the description of the API stays public

    token = Token.objects.create(user=User.objects.create_user("robot"))
    accepted = _post(client, ("a.JPEG", JPEG), Authorization=f"Token {token.key}")
    assert accepted.status_code == 202
    wrong = _post(client, ("a.JPEG", JPEG), Authorization="Token nope")
    assert wrong.status_code == 401
    assert Classification.objects.count() == 1


@pytest.mark.django_db
def test_openapi_schema_validates(client: Client, tmp_path: Path) -> None:
    from openapi_spec_validator import validate

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    schema = client.get("/api/schema/?format=json").json()
    validate(schema)
    paths = schema["paths"]
    assert {"/api/classifications", "/api/classifications/{request_id}"} <= set(paths)
    submit = paths["/api/classifications"]["post"]
    assert set(submit["responses"]) >= {"202", "400", "413", "415", "422", "503"}
    assert "multipart/form-data" in submit["requestBody"]["content"]


@pytest.mark.django_db
def test_docs_pages_need_no_cdn(client: Client) -> None:
    for url in ("/api/docs/", "/api/redoc/"):
        page = client.get(url).content.decode()
        assert "/static/drf_spectacular_sidecar/" in page
        assert "cdn." not in page and "unpkg" not in page


@pytest.mark.django_db
def test_with_auth_on_a_token_opens_post_slash_and_a_session_needs_csrf(settings, sent, stored_files) -> None:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    settings.API_AUTH = True
    settings.SYNC_WAIT_SECONDS = 0.2  # no worker here: past authentication, the caller times out waiting
    user = User.objects.create_user("person", password="a long enough password")
    token = Token.objects.create(user=user)
    client = Client(enforce_csrf_checks=True)
    answer = client.post("/", {"myfile": _file("a.JPEG", JPEG)}, headers={"Authorization": f"Token {token.key}"})
    assert answer.status_code == 504 and "will still be classified" in answer.content.decode()

    # The home page's script: a logged-in person, a session cookie, and the CSRF token from the page.
    client.force_login(user)
    page = client.get("/")
    assert page.status_code == 200
    csrf = page.cookies["csrftoken"].value
    without = _post(client, ("a.JPEG", JPEG))
    assert (without.status_code, without.json()["code"]) == (403, "permission_denied")
    assert "CSRF" in without.json()["error"]
    assert _post(client, ("a.JPEG", JPEG), **{"X-CSRFToken": csrf}).status_code == 202


@pytest.mark.django_db
def test_two_attempts_racing_with_one_key_keep_one_set(sent, stored_files, monkeypatch) -> None:
    """The loser of the race meets the unique constraint: its rows and objects go, it answers with the winner's."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from classifier.intake import idempotency
    from classifier.intake.validation import validate

    image = validate(SimpleUploadedFile("a.JPEG", JPEG), "file")
    winner = idempotency.submit([image], "race", scope="")
    real_replay = idempotency._replay
    lookups = iter([None])  # the loser's first look finds nothing: the winner had not committed yet
    monkeypatch.setattr(idempotency, "_replay", lambda *args: next(lookups, real_replay(*args)))

    loser = idempotency.submit([image], "race", scope="")

    assert loser.replayed and [row.pk for row in loser.rows] == [row.pk for row in winner.rows]
    assert Classification.objects.count() == 1
    assert len(_objects(stored_files)) == 1


@pytest.mark.django_db
def test_expired_idempotency_keys_are_forgotten() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from classifier.intake import idempotency

    old = IdempotencyKey.objects.create(key="old", fingerprint="f", request_ids=[])
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    IdempotencyKey.objects.create(key="fresh", fingerprint="f", request_ids=[])
    assert idempotency.forget_expired(timezone.now()) == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


@pytest.mark.django_db
def test_one_file_over_the_default_count_is_a_json_413(client: Client, sent, stored_files) -> None:
    """Django's own file-count guard (a bare HTML 400) must not answer before ours."""
    response = _post(client, *[(f"{index}.JPEG", JPEG) for index in range(101)])
    assert (response.status_code, response.json()["code"]) == (413, "too_large")
    assert "the limit is 100" in response.json()["error"]
    assert Classification.objects.count() == 0


@pytest.mark.django_db
def test_an_expired_key_no_longer_replays(client: Client, sent, stored_files) -> None:
    from datetime import timedelta

    from django.utils import timezone

    first = _post(client, ("a.JPEG", JPEG), **{"Idempotency-Key": "old"}).json()["results"][0]["id"]
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    again = _post(client, ("a.JPEG", JPEG), **{"Idempotency-Key": "old"})
    assert again.status_code == 202 and "Idempotent-Replayed" not in again
    assert again.json()["results"][0]["id"] != first
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.django_db
def test_post_slash_takes_a_token_not_a_session(settings, sent, stored_files) -> None:
    """POST / is CSRF-exempt for the generators: a browser's session must not open it to other sites."""
    from django.contrib.auth.models import User

    settings.API_AUTH = True
    client = Client()
    client.force_login(User.objects.create_user("person"))
    response = client.post("/", {"myfile": _file("a.JPEG", JPEG)})
    assert response.status_code == 401
    assert Classification.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("form", "header"), [({"ttl": "30"}, {}), ({}, {"Request-TTL": "30"}), ({"ttl": "30"},
                                              {"Request-TTL": "30"})])  # fmt: skip
def test_a_time_to_live_sets_when_the_request_expires(client: Client, sent, stored_files, form, header) -> None:
    response = client.post("/api/classifications", {"file": [_file("a.JPEG", JPEG)], **form}, headers=header)
    assert response.status_code == 202, response.content
    row = Classification.objects.get()
    assert row.expires_at is not None
    assert 29 <= (row.expires_at - row.created_at).total_seconds() <= 31
    assert response.json()["results"][0]["expires_at"] is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("form", "header", "message"),
    [
        ({"ttl": "0"}, {}, "ttl must be a number of seconds above 0 and at most 3600"),
        ({"ttl": "soon"}, {}, "got 'soon'"),
        ({}, {"Request-TTL": "nan"}, "ttl must be"),
        ({}, {"Request-TTL": "7200"}, "at most 3600"),
        ({"ttl": "5"}, {"Request-TTL": "6"}, "disagree"),
    ],
)
def test_a_bad_time_to_live_is_400_and_nothing_is_kept(
    client: Client, sent, stored_files, form, header, message
) -> None:
    response = client.post("/api/classifications", {"file": [_file("a.JPEG", JPEG)], **form}, headers=header)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_ttl" and message in response.json()["error"]
    assert not Classification.objects.exists() and not _objects(stored_files)
