"""The results consumer against moto's server: reports sent as workers send them (classifier/worker/outbox.py, in
the format of classifier/contract.py), received in batches, recorded, deleted; outages and bad reports."""

from __future__ import annotations

import io
import os
import time
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import OperationalError

from classifier import contract
from classifier.contract import Kind, Outgoing
from classifier.models import Classification, Status
from classifier.results import consumer as consumer_module
from classifier.results import recording, reports, wakeup
from classifier.results.consumer import ResultsConsumer
from classifier.worker import outbox as outbox_module
from classifier.worker.outbox import Outbox, send_now
from common import aws
from deploy.provision import QueuePlan, ensure_queues
from fastpaths.botocore_sqs import sqs_client
from stack.embedded import LOCAL_CREDENTIALS
from tests.factories import make_request, result_payload

pytestmark = pytest.mark.django_db(transaction=True)

AT = "2026-11-27T10:00:00+00:00"


@pytest.fixture
def sqs(endpoint: str, settings, monkeypatch, request) -> Any:
    """Queues of the test's own on the endpoint; `send_now` sends to them, as a worker's process does."""
    settings.SQS_QUEUE_PREFIX = f"c{zlib.crc32(request.node.name.encode())}-"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    for name, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    client = aws.client("sqs", endpoint, LOCAL_CREDENTIALS)
    ensure_queues(client, QueuePlan(settings.SQS_QUEUE_PREFIX, 30, 5, 0))
    # This process's outbox, new for the test: it looks up the results queue of this test's prefix.
    monkeypatch.setitem(outbox_module._outboxes, os.getpid(), Outbox(client))
    return client


def _consumer(sqs: Any, settings) -> ResultsConsumer:
    return ResultsConsumer(sqs, settings.SQS_QUEUE_PREFIX + "results", wait_seconds=1)


def _queued(sqs: Any, settings) -> int:
    url = sqs.get_queue_url(QueueName=settings.SQS_QUEUE_PREFIX + "results")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _drain(consumer: ResultsConsumer, expected: int) -> int:
    handled, deadline = 0, time.monotonic() + 20
    while handled < expected and time.monotonic() < deadline:
        handled += consumer.step()
    consumer.flush()
    return handled


def test_every_kind_of_report_is_recorded_and_deleted(sqs, settings) -> None:
    done, slow, failed, late = (make_request() for _ in range(4))
    send_now(Kind.RESULT, str(done.pk), result_payload("tabby cat"))
    send_now(Kind.STARTED, str(slow.pk), "worker-2@host", AT)
    send_now(Kind.FAILURE, str(failed.pk), "unreadable image: truncated", "worker-1@host", AT)
    send_now(Kind.EXPIRED, str(late.pk), "expired: too late", "worker-1@host", AT)

    assert _drain(_consumer(sqs, settings), 4) == 4

    states = {row.pk: (row.status, row.label or row.error or row.worker) for row in Classification.objects.all()}
    assert states == {
        done.pk: (Status.DONE, "tabby cat"),
        slow.pk: (Status.RUNNING, "worker-2@host"),
        failed.pk: (Status.FAILED, "unreadable image: truncated"),
        late.pk: (Status.EXPIRED, "expired: too late"),
    }
    assert _queued(sqs, settings) == 0


def test_a_backlog_is_taken_ten_at_a_time_and_recorded_in_one_go(sqs, settings, monkeypatch) -> None:
    rows = [make_request() for _ in range(20)]
    for row in rows:
        send_now(Kind.RESULT, str(row.pk), result_payload())
    batches: list[int] = []
    record_results = recording.record_results
    monkeypatch.setattr(
        recording, "record_results", lambda results: batches.append(len(results)) or record_results(results)
    )

    assert _drain(_consumer(sqs, settings), 20) == 20

    assert Classification.objects.filter(status=Status.DONE).count() == 20
    assert max(batches) == 10 and sum(batches) == 20  # moto hands out up to ten per receive, as SQS may
    assert _queued(sqs, settings) == 0


def test_while_the_database_is_away_a_batch_comes_back_soon_and_is_recorded_after(sqs, settings, monkeypatch) -> None:
    row = make_request()
    send_now(Kind.RESULT, str(row.pk), result_payload())
    consumer = _consumer(sqs, settings)

    record_results, database_away = recording.record_results, True

    def away_for_now(results: Any) -> list[str]:
        if database_away:
            raise OperationalError("connection refused")
        return record_results(results)

    monkeypatch.setattr(recording, "record_results", away_for_now)
    with pytest.raises(OperationalError):
        _drain(consumer, 1)
    database_away = False

    started = time.monotonic()
    assert _drain(consumer, 1) == 1
    assert time.monotonic() - started < 5  # put back after at most a second, not the queue's 10 s
    row.refresh_from_db()
    assert row.status == Status.DONE and _queued(sqs, settings) == 0


def test_a_report_that_cannot_be_recorded_does_not_hold_back_the_others(sqs, settings, caplog) -> None:
    good, bad = make_request(), make_request()
    send_now(Kind.RESULT, str(bad.pk), {"label": "no other field"})
    send_now(Kind.RESULT, str(good.pk), result_payload())
    send_now(Kind.STARTED, "not-a-request-id", "worker-1@host", AT)

    assert _drain(_consumer(sqs, settings), 3) == 3

    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.status, bad.status) == (Status.DONE, Status.QUEUED)  # the sweeper sends `bad` again
    assert f"could not record the result of {bad.pk}; dropped" in caplog.text
    assert _queued(sqs, settings) == 0


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("hello", "not JSON, nor a report of version 0"),
        ('{"version": 2, "reports": []}', "version 2; this reader knows version 1"),
        ('{"reports": []}', "no version: not a results message"),
    ],
)
def test_a_message_it_cannot_read_is_refused_to_the_dead_letter_queue_with_the_reason(
    sqs, settings, caplog, body, why
) -> None:
    from classifier.recovery import dead_letters

    url = sqs.get_queue_url(QueueName=settings.SQS_QUEUE_PREFIX + "results")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=body)
    assert _drain(_consumer(sqs, settings), 1) == 1
    assert "refused a message on" in caplog.text and _queued(sqs, settings) == 0
    queues = dead_letters.find_queues(sqs)
    letters = dead_letters.receive(sqs, queues.dead_letter, wait_for_held=False)
    assert [(letter.body, letter.request_id) for letter in letters] == [(body, None)]
    assert letters[0].refused is not None and letters[0].refused.endswith(why)
    assert letters[0].refused.startswith(settings.SQS_QUEUE_PREFIX + "results: ")
    dead_letters.release(sqs, queues.dead_letter, letters)
    listed = io.StringIO()
    call_command("deadletters", "list", stdout=listed)
    assert f"refused by {settings.SQS_QUEUE_PREFIX}results: {why}" in listed.getvalue()
    # Never re-driven to the classify queue, where no worker could read it: it stays for an operator.
    assert dead_letters.redrive(sqs, queues) == []
    classify = sqs.get_queue_attributes(QueueUrl=queues.classify, AttributeNames=["ApproximateNumberOfMessages"])
    assert classify["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert len(dead_letters.receive(sqs, queues.dead_letter, wait_for_held=False)) == 1


def test_reports_of_version_0_from_workers_of_the_previous_release_are_still_read() -> None:
    """Celery task messages, as workers sent them before the JSON format: one report, or a batch of them."""
    from fastpaths import celery_messages

    one = celery_messages.encode("classifier.record_started", "a.started", ["a", "worker-1@host", AT], "results")
    several = celery_messages.encode("classifier.record_reports", "reports-1", [[
        ["classifier.record_result", "b", {"label": "x"}],
        ["classifier.record_failure", "c", "unreadable image", "worker-1@host", AT],
    ]], "results")  # fmt: skip
    assert contract.decode(one) == [Outgoing(Kind.STARTED, "a", ("worker-1@host", AT))]
    assert contract.decode(several) == [
        Outgoing(Kind.RESULT, "b", ({"label": "x"},)),
        Outgoing(Kind.FAILURE, "c", ("unreadable image", "worker-1@host", AT)),
    ]
    unknown = celery_messages.encode("classifier.record_something", "d", ["d"], "results")
    with pytest.raises(contract.UnreadableReport, match="nor a report of version 0"):
        contract.decode(unknown)


def test_a_report_without_its_fields_is_refused_too() -> None:
    body = '{"version": 1, "reports": [{"kind": "failure", "request_id": "a", "reason": "x"}]}'
    with pytest.raises(contract.UnreadableReport, match="without its fields"):
        reports.read({"Body": body, "ReceiptHandle": "h"})


def test_a_queue_that_went_away_is_looked_up_again(sqs, settings) -> None:
    consumer = _consumer(sqs, settings)
    assert consumer.step() == 0
    name = settings.SQS_QUEUE_PREFIX + "results"
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        consumer.step()
    ensure_queues(sqs, QueuePlan(settings.SQS_QUEUE_PREFIX, 30, 5, 0))
    row = make_request()
    send_now(Kind.RESULT, str(row.pk), result_payload())
    assert _drain(consumer, 1) == 1


def test_the_command_records_what_is_waiting(sqs, settings, capsys) -> None:
    settings.SQS_WAIT_TIME_SECONDS = 1
    row = make_request()
    send_now(Kind.RESULT, str(row.pk), result_payload())
    deadline = time.monotonic() + 20
    while Classification.objects.get(pk=row.pk).status != Status.DONE and time.monotonic() < deadline:
        call_command("consume_results", "--once")
    assert Classification.objects.get(pk=row.pk).status == Status.DONE


def test_the_batch_size_is_sqs_s_at_most() -> None:
    assert ResultsConsumer(None, "results", wait_seconds=0, batch_size=50).batch_size == consumer_module.SQS_BATCH_SIZE


@pytest.fixture
def deletes(sqs, monkeypatch) -> list[int]:
    """The size of each DeleteMessageBatch the consumer makes; deletes are never due by the clock alone."""
    monkeypatch.setattr(consumer_module, "DELETE_WITHIN_SECONDS", 60.0)  # a slow machine must not flush by the clock
    sizes: list[int] = []
    sqs.meta.events.register("provide-client-params.sqs.DeleteMessageBatch",
                             lambda params, **_: sizes.append(len(params["Entries"])))  # fmt: skip
    return sizes


def test_under_a_trickle_recorded_reports_are_deleted_ten_at_a_time_or_when_the_queue_goes_quiet(
    sqs, settings, deletes
) -> None:
    consumer = _consumer(sqs, settings)
    rows = [make_request() for _ in range(13)]
    for row in rows:  # one report per receive, as when results arrive one by one
        send_now(Kind.RESULT, str(row.pk), result_payload())
        assert consumer.step() == 1
    assert deletes == [10] and _queued(sqs, settings) == 3  # recorded, still held for the next delete
    assert Classification.objects.filter(status=Status.DONE).count() == 13

    assert consumer.step() == 0  # the queue is quiet: what was recorded goes now
    assert deletes == [10, 3] and _queued(sqs, settings) == 0


def test_under_load_reports_are_deleted_in_full_batches_and_the_rest_waits_for_the_next(sqs, settings, deletes) -> None:
    consumer = _consumer(sqs, settings)
    for _ in range(2):  # two receives of seven
        for row in [make_request() for _ in range(7)]:
            send_now(Kind.RESULT, str(row.pk), result_payload())
        assert consumer.step() == 7
    assert deletes == [10] and _queued(sqs, settings) == 4
    assert consumer.step() == 0
    assert deletes == [10, 4] and _queued(sqs, settings) == 0


def test_the_command_deletes_what_it_recorded_when_it_stops(sqs, settings) -> None:
    settings.SQS_WAIT_TIME_SECONDS = 1
    row = make_request()
    send_now(Kind.RESULT, str(row.pk), result_payload())
    while Classification.objects.get(pk=row.pk).status != Status.DONE:
        call_command("consume_results", "--once")
    assert _queued(sqs, settings) == 0


def test_a_recorded_report_waits_at_most_about_a_second_for_its_delete(sqs, settings) -> None:
    consumer = _consumer(sqs, settings)
    first, second = make_request(), make_request()
    send_now(Kind.RESULT, str(first.pk), result_payload())
    assert consumer.step() == 1 and _queued(sqs, settings) == 1
    # Deleted by the clock, without another receive.
    _until(lambda: _queued(sqs, settings) == 0, consumer_module.DELETE_WITHIN_SECONDS + 5)
    send_now(Kind.RESULT, str(second.pk), result_payload())
    assert consumer.step() == 1 and _queued(sqs, settings) == 1
    _until(lambda: _queued(sqs, settings) == 0, consumer_module.DELETE_WITHIN_SECONDS + 5)


def _until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_waiting_web_processes_are_told_the_answers_of_each_recorded_batch(sqs, settings, tmp_path) -> None:
    """What a nudge carries is what was committed: each waiter's answer, with no query of its own."""
    import json
    import socket

    settings.RESULT_WAKEUP_DIR = str(tmp_path)
    rows = [make_request(original_name=f"{index}.jpg") for index in range(3)]
    for index, row in enumerate(rows):
        send_now(Kind.RESULT, str(row.pk), result_payload(f"label {index}"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as web_process:
        web_process.bind(str(tmp_path / f"1-0{wakeup.SUFFIX}"))
        web_process.settimeout(5)
        assert _drain(_consumer(sqs, settings), 3) == 3
        told: list[dict[str, str]] = []
        while len(told) < 3:
            told += json.loads(web_process.recv(wakeup.MAX_DATAGRAM))
    assert sorted(told, key=lambda answer: answer["original_name"]) == [
        {"id": str(row.pk), "status": "done", "label": f"label {index}", "error": "", "original_name": f"{index}.jpg"}
        for index, row in enumerate(rows)
    ]


def test_a_batch_that_failed_a_request_asks_the_web_processes_to_look_instead() -> None:
    done, failed = make_request(), make_request()
    batch = [
        reports.Report(Kind.RESULT, str(done.pk), (result_payload(),), "r1", 1),
        reports.Report(Kind.FAILURE, str(failed.pk), ("unreadable image", "worker-1@host", AT), "r2", 1),
    ]
    assert consumer_module.record(batch) == []  # the failure's answer is the database's to give
    assert [answer["id"] for answer in consumer_module.record(batch[:1])] == []  # recorded already: nothing new
    started = reports.Report(Kind.STARTED, str(make_request().pk), ("worker-1@host", AT), "r3", 1)
    fresh = make_request()
    result = reports.Report(Kind.RESULT, str(fresh.pk), (result_payload(),), "r4", 1)
    answers = consumer_module.record([started, result])
    assert [answer["id"] for answer in answers] == [str(fresh.pk)]  # a start finishes nothing


def test_a_worker_s_batch_arrives_as_one_message_and_is_recorded_and_deleted_as_one(sqs, settings, deletes) -> None:
    """The outbox's message of several reports (classifier/worker/outbox.py), through the endpoint and back."""
    from classifier.worker.outbox import HeldMessage

    classify_url = sqs.get_queue_url(QueueName=settings.SQS_QUEUE_PREFIX + "classify")["QueueUrl"]
    for _ in range(3):
        sqs.send_message(QueueUrl=classify_url, MessageBody="a classify message")
    held = sqs.receive_message(QueueUrl=classify_url, MaxNumberOfMessages=3, WaitTimeSeconds=1)["Messages"]
    assert len(held) == 3
    done, failed, slow = make_request(), make_request(), make_request()
    outbox = Outbox(sqs_client())
    finished = [
        Outgoing(Kind.RESULT, str(done.pk), (result_payload("tabby cat"),)),
        Outgoing(Kind.FAILURE, str(failed.pk), ("unreadable image", "worker-1@host", AT)),
        Outgoing(Kind.EXPIRED, str(slow.pk), ("expired: too late", "worker-1@host", AT)),
    ]
    for index, (message, report) in enumerate(zip(held, finished, strict=True)):
        outbox.finish(HeldMessage(message["ReceiptHandle"], classify_url, index == 2), report)
    assert _queued(sqs, settings) == 1  # one message for the three reports

    consumer = _consumer(sqs, settings)
    assert _drain(consumer, 1) == 1

    states = {row.pk: row.status for row in Classification.objects.filter(pk__in=[done.pk, failed.pk, slow.pk])}
    assert states == {done.pk: Status.DONE, failed.pk: Status.FAILED, slow.pk: Status.EXPIRED}
    assert deletes == [1] and _queued(sqs, settings) == 0  # the one message, deleted once
    classify_attributes = sqs.get_queue_attributes(QueueUrl=classify_url, AttributeNames=["All"])["Attributes"]
    assert classify_attributes["ApproximateNumberOfMessagesNotVisible"] == "0"  # the classify messages went too


def test_a_message_of_several_reports_is_read_as_each_of_them_and_one_of_none_is_refused() -> None:
    body = contract.encode([Outgoing(Kind.RESULT, "a", ({"label": "x"},)),
                           Outgoing(Kind.STARTED, "b", ("worker-1@host", AT))])  # fmt: skip
    read = reports.read({"Body": body, "ReceiptHandle": "h", "Attributes": {"ApproximateReceiveCount": "2"}})
    assert read == [reports.Report(Kind.RESULT, "a", ({"label": "x"},), "h", 2),
                    reports.Report(Kind.STARTED, "b", ("worker-1@host", AT), "h", 2)]  # fmt: skip
    with pytest.raises(contract.UnreadableReport, match="no reports"):
        reports.read({"Body": '{"version": 1, "reports": []}', "ReceiptHandle": "h"})


def test_during_an_outage_a_message_of_several_reports_is_put_back_once(sqs, settings, monkeypatch) -> None:
    consumer = _consumer(sqs, settings)
    put_back: list[int] = []
    sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibilityBatch",
                             lambda params, **_: put_back.append(len(params["Entries"])))  # fmt: skip
    url = sqs.get_queue_url(QueueName=settings.SQS_QUEUE_PREFIX + "results")["QueueUrl"]
    rows = [make_request() for _ in range(3)]
    sqs.send_message(QueueUrl=url, MessageBody=contract.encode(
        [Outgoing(Kind.RESULT, str(row.pk), (result_payload(),)) for row in rows]))  # fmt: skip

    def away(results: Any) -> list[str]:
        raise OperationalError("connection refused")

    monkeypatch.setattr(recording, "record_results", away)
    with pytest.raises(OperationalError):
        _drain(consumer, 1)
    assert put_back == [1]
