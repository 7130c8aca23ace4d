"""Create (or bring up to date) the queues and buckets the service needs. Safe to run any number of times.

The visibility timeout and the redrive policy are attributes of the queues themselves: kombu's own
`visibility_timeout` option only applies to queues that kombu creates, and it creates none of ours.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# SQS's maximum (14 days): a poison image's message must outlive an operator's weekend before it is re-driven.
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 60 * 60


@dataclass(frozen=True)
class QueuePlan:
    prefix: str
    visibility_timeout: int
    max_receive_count: int
    wait_time_seconds: int
    classify: str = "classify"
    results: str = "results"
    dead_letter: str = "classify-dead-letter"

    @classmethod
    def from_settings(cls) -> QueuePlan:
        return cls(
            prefix=settings.SQS_QUEUE_PREFIX,
            visibility_timeout=settings.SQS_VISIBILITY_TIMEOUT,
            max_receive_count=settings.SQS_MAX_RECEIVE_COUNT,
            wait_time_seconds=settings.SQS_WAIT_TIME_SECONDS,
            classify=settings.CLASSIFY_QUEUE,
            results=settings.RESULTS_QUEUE,
            dead_letter=settings.DEAD_LETTER_QUEUE,
        )


def queue_attributes(plan: QueuePlan, dead_letter_arn: str) -> dict[str, dict[str, str]]:
    """The attributes each queue must have, by logical name: the one rule both the local stack and an AWS
    deployment (deploy/account/) apply."""
    common = {
        "VisibilityTimeout": str(plan.visibility_timeout),
        "ReceiveMessageWaitTimeSeconds": str(plan.wait_time_seconds),
    }
    redrive = json.dumps({"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": plan.max_receive_count})
    return {
        plan.dead_letter: {"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS)},
        plan.classify: {**common, "RedrivePolicy": redrive},
        plan.results: common,
    }


def ensure_queues(sqs: Any, plan: QueuePlan) -> dict[str, str]:
    """Returns the queue URLs by logical name."""
    retention = queue_attributes(plan, "")[plan.dead_letter]
    dead_letter_url = _ensure_queue(sqs, plan.prefix + plan.dead_letter, retention)
    dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = queue_attributes(plan, dead_letter_arn)
    return {
        plan.dead_letter: dead_letter_url,
        plan.classify: _ensure_queue(sqs, plan.prefix + plan.classify, attributes[plan.classify]),
        plan.results: _ensure_queue(sqs, plan.prefix + plan.results, attributes[plan.results]),
    }


def _ensure_queue(sqs: Any, name: str, attributes: dict[str, str]) -> str:
    try:
        url: str = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except sqs.exceptions.QueueNameExists:
            # A running process got there first: kombu declares the queues it uses when it reconnects (after an
            # endpoint restart, say), with its own attributes, so CreateQueue with ours is refused. Take the
            # queue and give it our attributes.
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        else:
            logger.info("created queue %s", name)
            return url
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url


def ensure_buckets(s3: Any, names: list[str], region: str) -> None:
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    for name in names:
        if name in existing:
            continue
        params: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**params)
        logger.info("created bucket %s", name)
