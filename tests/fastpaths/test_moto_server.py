"""The embedded endpoint's changes to moto give moto's own answers: the retention check, the module list, and a
server that serves SQS through them (the whole integration suite runs on it too)."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

import boto3
import pytest

from fastpaths import moto_server as endpoint
from stack.embedded import LOCAL_CREDENTIALS


@pytest.fixture
def sqs_backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    return sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def test_the_retention_check_answers_as_moto_s_own_inside_and_past_the_period(sqs_backend) -> None:
    from moto.sqs.models import SQSBackend

    name = f"retention-{uuid.uuid4().hex[:8]}"
    sqs_backend.create_queue(name, MessageRetentionPeriod="60")
    try:
        message = sqs_backend.send_message(name, "body")
        for sent_ago_ms in (0, 59_000, 61_000, 86_400_000):
            message.sent_timestamp = int(time.time() * 1000) - sent_ago_ms
            moto_s = SQSBackend.is_message_valid_based_on_retention_period(sqs_backend, name, message)
            assert endpoint.within_retention(sqs_backend, name, message) is moto_s
            assert moto_s is (sent_ago_ms < 60_000)
    finally:
        sqs_backend.delete_queue(name)


def test_the_pinned_moto_takes_every_change_and_the_module_list_and_clock_are_moto_s(monkeypatch) -> None:
    from moto import backends
    from moto.core.utils import unix_time_millis
    from moto.sqs import models as sqs_models
    from moto.sqs.models import SQSBackend

    listed = list(backends.list_of_moto_modules())
    monkeypatch.setattr(SQSBackend, "is_message_valid_based_on_retention_period",
                        SQSBackend.is_message_valid_based_on_retention_period)  # fmt: skip
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    monkeypatch.setattr(sqs_models, "unix_time_millis", sqs_models.unix_time_millis)
    assert endpoint.apply() == dict.fromkeys(
        ("SQSBackend.is_message_valid_based_on_retention_period", "backends.list_of_moto_modules",
         "sqs.models.unix_time_millis"), True,
    )  # fmt: skip
    assert SQSBackend.is_message_valid_based_on_retention_period is endpoint.within_retention
    assert list(backends.list_of_moto_modules()) == listed and "sqs" in listed
    ours, theirs = sqs_models.unix_time_millis(), unix_time_millis()
    assert abs(ours - theirs) < 50  # the same clock, in milliseconds
    moment = datetime(2026, 12, 7, 18, 0, tzinfo=None)
    assert sqs_models.unix_time_millis(moment) == unix_time_millis(moment)


def test_a_receive_no_longer_builds_the_queue_s_attributes_per_message(sqs_backend, monkeypatch) -> None:
    """moto's own check built every attribute of the queue three times per message received, each build counting
    the queue's messages: a receive's cost grew with the queue's length."""
    from moto.sqs.models import Queue, SQSBackend

    built: list[int] = []
    attributes = Queue.attributes
    monkeypatch.setattr(Queue, "attributes", property(lambda queue: built.append(1) or attributes.fget(queue)))
    name = f"long-{uuid.uuid4().hex[:8]}"
    sqs_backend.create_queue(name)
    try:
        for _ in range(50):
            sqs_backend.send_message(name, "body")
        built.clear()
        assert len(sqs_backend.receive_message(name, 10, 0, 0)) == 10
        assert len(built) == 30  # moto as it ships: three builds per message received
        built.clear()
        monkeypatch.setattr(SQSBackend, "is_message_valid_based_on_retention_period", endpoint.within_retention)
        assert len(sqs_backend.receive_message(name, 10, 0, 0)) == 10
        assert built == []
    finally:
        sqs_backend.delete_queue(name)


def test_the_server_starts_from_any_folder_and_says_nothing_of_missing_changes(tmp_path, monkeypatch) -> None:
    from stack.embedded import start_endpoint

    monkeypatch.chdir(tmp_path)  # `python -m stack.endpoint` must not depend on the caller's folder
    log = tmp_path / "endpoint.log"
    process, url = start_endpoint(log_path=log)
    try:
        boto3.client("sqs", endpoint_url=url, region_name="us-east-1", **{
            "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}).list_queues()  # fmt: skip
    finally:
        process.stop()
    text = log.read_text()
    assert "stack.endpoint:" not in text
    assert '"POST / HTTP' in text  # the access line per request, which the benchmark counts
