"""Upload → SQS → worker → results → row, end to end over HTTP with real processes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from classifier import storage
from classifier.inference.labels import imagenet_labels
from classifier.models import Classification, Status
from common import aws
from tests.conftest import IMAGES_DIR, sanity_images
from tests.factories import make_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def post_image(url: str, field: str, path: Path, name: str | None = None, timeout: float = 120) -> httpx.Response:
    with path.open("rb") as handle:
        return httpx.post(url, files={field: (name or path.name, handle, "image/jpeg")}, timeout=timeout)


def wait_until_finished(url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(url, timeout=10).json()
        if body["status"] in (Status.DONE, Status.FAILED):
            return body
        time.sleep(0.1)
    raise AssertionError(f"{url} did not finish in {timeout} s")


def test_twenty_concurrent_cse546_requests_get_the_right_labels(stack) -> None:
    images = sanity_images()[:20]
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda image: post_image(stack.web_url + "/", "myfile", image.path), images))
    labels = imagenet_labels()
    for image, response in zip(images, responses, strict=True):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text in {labels[class_id] for class_id in image.acceptable}, image.description
    rows = Classification.objects.filter(status=Status.DONE)
    assert rows.count() == 20
    assert {row.original_name for row in rows} == {image.path.name for image in images}


def test_cse546_answer_for_the_course_example(stack) -> None:
    response = post_image(stack.web_url + "/", "myfile", IMAGES_DIR / "test_2.JPEG")
    assert (response.status_code, response.text) == (200, "monarch butterfly")


def test_2024_generator_protocol_answers_name_and_label(stack) -> None:
    response = post_image(stack.web_url + "/", "inputFile", IMAGES_DIR / "test_2.JPEG")
    assert (response.status_code, response.text) == (200, "test_2:monarch butterfly")


def test_api_submit_poll_row_and_output_object(stack) -> None:
    response = post_image(stack.web_url + "/api/classifications", "file", IMAGES_DIR / "test_2.JPEG")
    assert response.status_code == 202, response.text
    assert response.json()["count"] == 1
    accepted = response.json()["results"][0]
    assert accepted["status"] in (Status.QUEUED, Status.RUNNING, Status.DONE)
    assert response.headers["Location"] == f"/api/classifications/{accepted['id']}"

    body = wait_until_finished(accepted["status_url"])
    assert body["status"] == "done"
    assert (body["label"], body["class_id"]) == ("monarch butterfly", 323)
    assert body["top5"][0]["class_id"] == 323
    assert len(body["top5"]) == 5
    assert body["model"]["name"] == "efficientnet_lite0"
    assert body["model"]["version"].startswith("efficientnet-lite0")
    assert body["worker"].startswith("worker-1@")
    timings = body["timings"]
    assert timings["queued_at"] <= timings["started_at"] <= timings["finished_at"] <= timings["recorded_at"]

    row = Classification.objects.get(pk=accepted["id"])
    assert (row.status, row.label, row.result_deliveries) == (Status.DONE, "monarch butterfly", 1)
    with storage.outputs().open(row.output_key) as handle:
        assert handle.read().decode() == "(test_2, monarch butterfly)"
    with storage.inputs().open(row.input_key) as handle:
        assert handle.read() == (IMAGES_DIR / "test_2.JPEG").read_bytes()
    if settings.STORAGE_BACKEND == "s3":
        head = aws.client("s3").head_object(Bucket=settings.S3_INPUT_BUCKET, Key=row.input_key)
        assert head["Metadata"]["original-name"] == "test_2.JPEG"


def test_same_file_name_twice_gives_two_objects(stack) -> None:
    responses = [
        post_image(stack.web_url + "/api/classifications", "file", IMAGES_DIR / path, "same.JPEG")
        for path in ("test_10.JPEG", "test_25.JPEG")
    ]
    ids = [response.json()["results"][0]["id"] for response in responses]
    bodies = [wait_until_finished(f"{stack.web_url}/api/classifications/{request_id}") for request_id in ids]
    assert [body["label"] for body in bodies] == ["guacamole", "fountain"]
    rows = [Classification.objects.get(pk=request_id) for request_id in ids]
    assert rows[0].input_key != rows[1].input_key
    assert rows[0].output_key != rows[1].output_key
    assert {row.original_name for row in rows} == {"same.JPEG"}


def test_unknown_request_is_404(stack) -> None:
    response = httpx.get(stack.web_url + "/api/classifications/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "no classification request" in response.json()["error"]


BAD_UPLOADS = [
    pytest.param("myfile", "empty.jpg", b"", 400, "empty", id="empty"),
    pytest.param("myfile", "notes.jpg", b"this is text, not a JPEG\n", 415, "not an image", id="text-as-jpg"),
    pytest.param(
        "myfile", "cut.JPEG", (IMAGES_DIR / "test_2.JPEG").read_bytes()[:900], 400, "truncated", id="truncated"
    ),
    pytest.param("wrongfield", "test_2.JPEG", b"irrelevant", 400, "named 'myfile'", id="missing-field"),
]


@pytest.mark.parametrize(("field", "name", "data", "status", "message"), BAD_UPLOADS)
@pytest.mark.parametrize("endpoint", ["/", "/api/classifications"])
def test_bad_input_gets_a_clear_4xx_and_nothing_is_kept(stack, endpoint, field, name, data, status, message) -> None:
    if endpoint != "/" and field == "myfile":
        field = "file"
    response = httpx.post(stack.web_url + endpoint, files={field: (name, data, "image/jpeg")}, timeout=30)
    assert response.status_code == status
    text = response.json()["error"] if endpoint != "/" else response.text
    assert message in text.replace("'file'", "'myfile'")
    assert not Classification.objects.exists()


def test_upload_over_the_size_limit_is_413(stack) -> None:
    too_big = b"\xff\xd8" + b"\0" * (settings.UPLOAD_MAX_BYTES + 1)
    response = httpx.post(stack.web_url + "/", files={"myfile": ("huge.jpg", too_big, "image/jpeg")}, timeout=60)
    assert response.status_code == 413
    assert "limit" in response.text
    assert not Classification.objects.exists()


def test_queues_carry_visibility_timeout_and_dead_letter_redrive(stack) -> None:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings.SQS_QUEUE_PREFIX + settings.CLASSIFY_QUEUE)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == str(settings.SQS_VISIBILITY_TIMEOUT)
    assert settings.DEAD_LETTER_QUEUE in attributes["RedrivePolicy"]
    assert f'"maxReceiveCount": {settings.SQS_MAX_RECEIVE_COUNT}' in attributes["RedrivePolicy"].replace("'", '"')


def test_web_form_shows_the_label_and_top5(stack) -> None:
    with httpx.Client(base_url=stack.web_url, timeout=60, follow_redirects=True) as client:
        home = client.get("/")
        assert home.status_code == 200
        token = client.cookies["csrftoken"]
        with (IMAGES_DIR / "test_2.JPEG").open("rb") as handle:
            page = client.post(
                "/upload", data={"csrfmiddlewaretoken": token}, files={"image": ("test_2.JPEG", handle, "image/jpeg")}
            )
        assert page.status_code == 200
        assert 'id="label">monarch butterfly<' in page.text
        assert page.text.count("<tr>") >= 5
        assert client.get(str(page.url) + "image").content == (IMAGES_DIR / "test_2.JPEG").read_bytes()


def test_form_without_csrf_token_is_refused(stack) -> None:
    response = post_image(stack.web_url + "/upload", "image", IMAGES_DIR / "test_2.JPEG")
    assert response.status_code == 403


def test_a_request_whose_input_is_gone_fails_with_the_reason(stack) -> None:
    from classifier.dispatch import send_for_classification

    row = make_request(original_name="ghost.jpg", input_key="nowhere/ghost.jpg")
    send_for_classification(row)
    body = wait_until_finished(f"{stack.web_url}/api/classifications/{row.pk}")
    assert body["status"] == "failed"
    assert body["error"] == "input object nowhere/ghost.jpg is missing"
    assert body["worker"].startswith("worker-1@")


def test_a_lost_send_is_recovered_by_the_sweeper(stack) -> None:
    """The row and the image were committed but the classify message never left (the fault the sweeper is for)."""
    import datetime

    from django.core.files.base import ContentFile

    from tests.integration.conftest import manage

    key = storage.inputs().save("lost-send/test_2.JPEG", ContentFile((IMAGES_DIR / "test_2.JPEG").read_bytes()))
    # Stale for this sweep (60 s), not yet for the stack's own sweeper (SWEEP_AFTER_SECONDS, 600 s): its pass at
    # start-up would otherwise race this one for the row when this test runs first.
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=2)
    row = make_request(original_name="test_2.JPEG", input_key=key, dispatched_at=long_ago)
    swept = manage(stack, "sweep", "--once", "--after", "60")
    assert swept.returncode == 0, swept.stderr
    assert "re-sent 1, gave up on 0" in swept.stdout
    body = wait_until_finished(f"{stack.web_url}/api/classifications/{row.pk}")
    assert (body["status"], body["label"]) == ("done", "monarch butterfly")
    assert Classification.objects.get(pk=row.pk).dispatches == 2


def _dead_letter(row: Classification) -> None:
    """Put the request's classify message where SQS puts it after maxReceiveCount unfinished receives."""
    from kombu import Queue

    from classifier.tasks import classify

    dead_letter = settings.SQS_QUEUE_PREFIX + settings.DEAD_LETTER_QUEUE
    classify.apply_async(args=[str(row.pk), row.input_key, row.original_name],
                         queue=Queue(dead_letter, routing_key=dead_letter))  # fmt: skip


def _deadletters(stack, action: str) -> str:
    from tests.integration.conftest import manage

    done = manage(stack, "deadletters", action)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_dead_letters_are_failed_with_the_reason_then_redriven(stack) -> None:
    from django.core.files.base import ContentFile

    key = storage.inputs().save("dead-letter/test_10.JPEG", ContentFile((IMAGES_DIR / "test_10.JPEG").read_bytes()))
    row = make_request(original_name="test_10.JPEG", input_key=key, status=Status.RUNNING)
    _dead_letter(row)
    assert "1 message(s)" in _deadletters(stack, "list")

    # The stack's sweeper peeks at the dead-letter queue too (classifier/recovery/dead_letters.py): whichever of the two
    # comes first fails the request, and the operator's command then drops a letter nothing waits for any more.
    report = _deadletters(stack, "fail")
    assert f"failed 1 request(s): {row.pk}" in report or "dropped 1 letter(s)" in report, report
    row.refresh_from_db()
    assert row.status == Status.FAILED and row.error.startswith("dead-lettered: workers took it")
    assert "0 message(s)" in _deadletters(stack, "list")

    _dead_letter(row)  # say it lands there again; after a fix, the operator re-drives it
    assert f"re-drove 1 request(s): {row.pk}" in _deadletters(stack, "redrive")
    body = wait_until_finished(f"{stack.web_url}/api/classifications/{row.pk}")
    assert (body["status"], body["label"], body["error"]) == ("done", "guacamole", None)
