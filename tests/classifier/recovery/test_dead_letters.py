"""Dead letters against moto's server: real SQS calls, a real redrive policy moving real messages to the DLQ."""

from __future__ import annotations

import time
import uuid
import zlib
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from django.utils import timezone

from classifier.models import Classification, Status
from classifier.recovery import dead_letters
from classifier.recovery.dead_letters import DeadLetterWatch, fail_dead_lettered
from classifier.results import recording
from deploy.provision import QueuePlan, ensure_queues
from fastpaths import celery_messages
from stack.processes import free_port
from tests.factories import make_request, result_payload

pytestmark = pytest.mark.django_db

MAX_RECEIVES = 2


@pytest.fixture
def sqs(endpoint: str, settings, request) -> Any:
    settings.SQS_QUEUE_PREFIX = f"t{zlib.crc32(request.node.name.encode())}-"  # queues of their own per test
    client = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
    plan = QueuePlan(settings.SQS_QUEUE_PREFIX, visibility_timeout=30, max_receive_count=MAX_RECEIVES,
                     wait_time_seconds=0)  # fmt: skip
    ensure_queues(client, plan)
    return client


def _body(request_id: str, task: str = "classifier.classify") -> str:
    """A classify message as kombu puts it on SQS: a base64 JSON envelope around a base64 JSON body."""
    return celery_messages.encode(task, str(uuid.uuid4()), [request_id, "k/a.jpg", "a.jpg"], "classify")


def _dead_letter(sqs: Any, queues: dead_letters.DeadLetterQueues, body: str) -> None:
    """Send to classify, take it MAX_RECEIVES times without finishing (a crash each time); SQS moves it."""
    sqs.send_message(QueueUrl=queues.classify, MessageBody=body)
    for _ in range(MAX_RECEIVES):
        assert sqs.receive_message(QueueUrl=queues.classify, VisibilityTimeout=0).get("Messages")
    assert not sqs.receive_message(QueueUrl=queues.classify).get("Messages")  # this receive moved it to the DLQ


def _held(sqs: Any, url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def _row(status: str = Status.QUEUED) -> Classification:
    return make_request(status=status)


def test_dead_letter_queue_keeps_messages_for_the_sqs_maximum(sqs) -> None:
    queues = dead_letters.find_queues(sqs)
    attributes = sqs.get_queue_attributes(QueueUrl=queues.dead_letter, AttributeNames=["MessageRetentionPeriod"])
    assert attributes["Attributes"]["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    assert queues.max_receive_count == MAX_RECEIVES  # read from the queue's own redrive policy


def test_a_pass_fails_waiting_requests_with_the_reason_and_leaves_the_letters(sqs) -> None:
    queues = dead_letters.find_queues(sqs)
    waiting = [_row(), _row(Status.RUNNING), _row()]
    finished = _row()
    recording.record_result(str(finished.pk), result_payload())
    for row in [*waiting, finished]:
        _dead_letter(sqs, queues, _body(str(row.pk)))
    _dead_letter(sqs, queues, _body("not-a-uuid"))
    _dead_letter(sqs, queues, _body(str(waiting[0].pk), task="classifier.record_result"))

    failed = fail_dead_lettered(sqs, queues, timezone.now())

    assert sorted(failed) == sorted(str(row.pk) for row in waiting)
    for row in waiting:
        row.refresh_from_db()
        assert row.status == Status.FAILED
        assert row.error == ("dead-lettered: workers took it 2 times without finishing "
                             "(a crash, a kill or a time limit)")  # fmt: skip
    finished.refresh_from_db()
    assert finished.status == Status.DONE
    assert _held(sqs, queues.dead_letter) == (6, 0)  # all still there, and visible at once for a re-drive


def test_passes_in_two_places_fail_each_request_once(sqs) -> None:
    queues = dead_letters.find_queues(sqs)
    row = _row()
    _dead_letter(sqs, queues, _body(str(row.pk)))
    first = fail_dead_lettered(sqs, queues, timezone.now())
    later = timezone.now() + timedelta(seconds=5)
    assert first == [str(row.pk)]
    assert fail_dead_lettered(sqs, queues, later) == []  # the conditional UPDATE finds nothing left to fail
    row.refresh_from_db()
    assert row.recorded_at < later


def test_a_request_sent_again_after_its_letter_died_is_not_failed_by_that_letter(sqs) -> None:
    queues = dead_letters.find_queues(sqs)
    row = _row()
    _dead_letter(sqs, queues, _body(str(row.pk)))
    # An operator re-ran it (a fresh message) while the old letter still lies in the dead-letter queue.
    Classification.objects.filter(pk=row.pk).update(dispatched_at=timezone.now() + timedelta(seconds=3))
    assert fail_dead_lettered(sqs, queues, timezone.now()) == []
    row.refresh_from_db()
    assert row.status == Status.QUEUED


def test_a_pass_looks_at_a_bounded_number_of_letters(sqs) -> None:
    queues = dead_letters.find_queues(sqs)
    rows = [_row() for _ in range(25)]
    for row in rows:
        _dead_letter(sqs, queues, _body(str(row.pk)))
    assert len(fail_dead_lettered(sqs, queues, timezone.now(), limit=10)) == 10
    assert _held(sqs, queues.dead_letter) == (25, 0)
    assert len(fail_dead_lettered(sqs, queues, timezone.now())) == 15  # the default bound covers the rest


def test_redrive_of_selected_requests_leaves_the_others(sqs) -> None:
    queues = dead_letters.find_queues(sqs)
    chosen, other, done = _row(Status.FAILED), _row(Status.FAILED), _row()
    recording.record_result(str(done.pk), result_payload())
    for row in (chosen, other, done):
        _dead_letter(sqs, queues, _body(str(row.pk)))

    assert dead_letters.redrive(sqs, queues, only={str(chosen.pk), str(done.pk)}) == [str(chosen.pk)]

    chosen.refresh_from_db()
    assert (chosen.status, chosen.dispatches) == (Status.QUEUED, 2)
    sent = sqs.receive_message(QueueUrl=queues.classify, MaxNumberOfMessages=10)["Messages"]
    assert [dead_letters.request_id_of(m["Body"]) for m in sent] == [str(chosen.pk)]
    # The other one waits in the dead-letter queue; the done one's letter was dropped (it would only run twice).
    assert _held(sqs, queues.dead_letter) == (1, 0)
    assert [letter.request_id for letter in dead_letters.receive(sqs, queues.dead_letter)] == [str(other.pk)]


def test_an_operator_waits_for_letters_the_sweeper_holds_for_a_moment(sqs) -> None:
    queues = dead_letters.find_queues(sqs)
    row = _row(Status.FAILED)
    _dead_letter(sqs, queues, _body(str(row.pk)))
    assert sqs.receive_message(QueueUrl=queues.dead_letter, VisibilityTimeout=2)["Messages"]  # a pass mid-way
    started = time.monotonic()
    assert dead_letters.redrive(sqs, queues) == [str(row.pk)]
    assert 1 < time.monotonic() - started < 10


def test_the_watch_survives_an_unreachable_endpoint() -> None:
    unreachable = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{free_port()}", region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local",
                               config=Config(retries={"max_attempts": 1}, connect_timeout=1))  # fmt: skip
    watch = DeadLetterWatch(lambda: unreachable)
    assert watch.run(timezone.now()) == []
    assert watch.queues is None  # found again on the next pass


def _admin_action(admin_client, action: str, rows: list[Classification]) -> str:
    response = admin_client.post("/admin/classifier/classification/",
                                 {"action": action, "_selected_action": [str(row.pk) for row in rows]},
                                 follow=True)  # fmt: skip
    assert response.status_code == 200
    return response.content.decode()


def test_admin_action_redrives_the_selected_requests(sqs, endpoint, admin_client, settings, monkeypatch) -> None:
    settings.AWS_ENDPOINT_URL = endpoint
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    queues = dead_letters.find_queues(sqs)
    poisoned, other, never = _row(), _row(), _row(Status.FAILED)
    for row in (poisoned, other):
        _dead_letter(sqs, queues, _body(str(row.pk)))
    fail_dead_lettered(sqs, queues, timezone.now())

    page = _admin_action(admin_client, "redrive_dead_letters", [poisoned, never])

    assert (
        "Re-drove 1 request(s) from the dead-letter queue; 1 other selected had none to re-drive (or were done)."
        in page
    )
    poisoned.refresh_from_db()
    assert (poisoned.status, poisoned.error) == (Status.QUEUED, "")
    sent = sqs.receive_message(QueueUrl=queues.classify)["Messages"]
    assert dead_letters.request_id_of(sent[0]["Body"]) == str(poisoned.pk)
    assert _held(sqs, queues.dead_letter) == (1, 0)  # the other one's letter stays


def test_admin_action_says_so_when_the_queue_is_unreachable(admin_client, settings, monkeypatch) -> None:
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    row = _row(Status.FAILED)
    assert "Cannot reach the dead-letter queue" in _admin_action(admin_client, "redrive_dead_letters", [row])
    row.refresh_from_db()
    assert row.status == Status.FAILED


def test_the_fail_command_counts_only_the_requests_it_failed(sqs) -> None:
    queues = dead_letters.find_queues(sqs)
    waiting, finished = _row(), _row()
    recording.record_result(str(finished.pk), result_payload())
    for row in (waiting, finished):
        _dead_letter(sqs, queues, _body(str(row.pk)))
    failed, dropped = dead_letters.fail(sqs, queues)
    assert (failed, dropped) == ([str(waiting.pk)], 1)
    finished.refresh_from_db()
    assert finished.status == Status.DONE
    assert _held(sqs, queues.dead_letter) == (0, 0)  # `fail` drops the letters it has dealt with
