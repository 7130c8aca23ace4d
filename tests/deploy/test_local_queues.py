"""The local stack's queue provisioning (deploy/provision.py) against moto's server, including the race with a
running process that declares a queue itself between our look-up and our CreateQueue."""

from __future__ import annotations

import json
from typing import Any

from common import aws
from deploy.provision import QueuePlan, ensure_queues
from stack.embedded import LOCAL_CREDENTIALS


def _plan(prefix: str) -> QueuePlan:
    return QueuePlan(prefix, visibility_timeout=30, max_receive_count=3, wait_time_seconds=20)


def _attributes(sqs: Any, url: str) -> dict[str, str]:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_a_second_run_keeps_the_queues_and_restores_their_attributes(endpoint: str) -> None:
    sqs = aws.client("sqs", endpoint, LOCAL_CREDENTIALS)
    first = ensure_queues(sqs, _plan("again-"))
    sqs.set_queue_attributes(QueueUrl=first["classify"], Attributes={"VisibilityTimeout": "5"})

    assert ensure_queues(sqs, _plan("again-")) == first
    assert _attributes(sqs, first["classify"])["VisibilityTimeout"] == "30"


def test_a_queue_another_process_creates_meanwhile_is_taken_and_given_our_attributes(endpoint: str) -> None:
    """What an endpoint restart looks like: the results consumer reconnects and kombu declares `results` with its
    own attributes just after our look-up found nothing, so our CreateQueue is refused as a name that exists."""
    sqs = aws.client("sqs", endpoint, LOCAL_CREDENTIALS)
    rival = aws.client("sqs", endpoint, LOCAL_CREDENTIALS)
    raced: list[str] = []

    def kombu_gets_there_first(params: dict[str, Any], **_: Any) -> None:
        if params["QueueName"] == "race-results" and not raced:
            kombus = rival.create_queue(QueueName="race-results", Attributes={"VisibilityTimeout": "1800"})
            raced.append(kombus["QueueUrl"])

    sqs.meta.events.register("provide-client-params.sqs.CreateQueue", kombu_gets_there_first)

    urls = ensure_queues(sqs, _plan("race-"))

    assert raced and urls["results"] == raced[0]
    results = _attributes(sqs, urls["results"])
    assert results["VisibilityTimeout"] == "30" and results["ReceiveMessageWaitTimeSeconds"] == "20"
    redrive = json.loads(_attributes(sqs, urls["classify"])["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 3
