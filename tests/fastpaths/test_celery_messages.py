"""Our task messages against Celery's own: the same message, whichever of the two published it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from kombu import Connection, Queue

from fastpaths import celery_messages
from stack.embedded import LOCAL_CREDENTIALS


@pytest.fixture
def sqs(endpoint: str, monkeypatch) -> Iterator[Any]:
    for name, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    yield boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")


def _celery_published(endpoint: str, sqs: Any, queue: str, task_id: str, args: list[Any]) -> str:
    from classifier.tasks import classify

    options = {"region": "us-east-1", "wait_time_seconds": 1}
    with Connection(f"sqs://@{endpoint.split('//')[1]}", transport="fastpaths.kombu_sqs:SynchronousSQSTransport",
                    transport_options=options) as conn:  # fmt: skip
        conn.transport_options["endpoint_url"] = endpoint
        declared = Queue(queue, routing_key=queue)
        with conn.channel() as channel:
            declared(channel).declare()
        classify.apply_async(args=args, task_id=task_id, connection=conn, queue=declared)
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"][0]["Body"]


def test_a_message_we_encode_is_the_message_celery_publishes(endpoint, sqs, monkeypatch) -> None:
    import base64
    import json

    from classifier.tasks import classify

    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    queue = f"messages-{uuid.uuid4().hex[:8]}"
    task_id = str(uuid.uuid4())
    args = [task_id, "inputs/a.JPEG", "a.JPEG", None]
    theirs = json.loads(base64.b64decode(_celery_published(endpoint, sqs, queue, task_id, args)))
    ours = json.loads(
        base64.b64decode(
            celery_messages.encode(classify.name, task_id, args, queue, **celery_messages.options_of(classify))
        )
    )

    assert base64.b64decode(ours["body"]) == base64.b64decode(theirs["body"])
    assert (ours["content-type"], ours["content-encoding"]) == (theirs["content-type"], theirs["content-encoding"])
    varying = {"origin"}  # the publishing host's name
    assert {k: v for k, v in ours["headers"].items() if k not in varying} == {
        k: v for k, v in theirs["headers"].items() if k not in varying
    }
    # Per message; and the publishing process's reply address for Celery's rpc results, which SQS has not.
    unique = {"delivery_tag", "correlation_id", "reply_to"}
    assert {k: v for k, v in ours["properties"].items() if k not in unique and k != "delivery_info"} == {
        k: v for k, v in theirs["properties"].items() if k not in unique and k != "delivery_info"
    }
    assert ours["properties"]["correlation_id"] == task_id == theirs["properties"]["correlation_id"]
    assert celery_messages.decode(
        celery_messages.encode(classify.name, task_id, args, queue, **celery_messages.options_of(classify))
    ) == (celery_messages.TaskMessage("classifier.classify", task_id, args))


# Nothing, not JSON, and an envelope without headers.
@pytest.mark.parametrize("body", ["", "bm90IGpzb24=", "eyJib2R5IjogImUzMD0ifQ=="])
def test_what_is_not_a_task_message_is_refused(body: str) -> None:
    with pytest.raises((ValueError, KeyError, IndexError, TypeError)):
        celery_messages.decode(body)


def _origin_here(_: object = None) -> str:
    import base64
    import json

    envelope = json.loads(base64.b64decode(celery_messages.encode("classifier.classify", "t", [], "q")))
    return envelope["headers"]["origin"]


def test_each_process_names_itself_as_the_origin_a_forked_one_too() -> None:
    import multiprocessing
    import os

    ours = _origin_here()
    assert ours.startswith(f"gen{os.getpid()}@")
    with multiprocessing.get_context("fork").Pool(1) as pool:
        (child,) = pool.map(_origin_here, [None])
    assert child != ours and child.startswith("gen") and child.split("@")[1] == ours.split("@")[1]
