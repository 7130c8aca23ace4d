"""Celery task messages as SQS message bodies, both ways, for the paths that talk to SQS without a Celery producer or
worker: the web tier's batched classify sends (classifier/dispatch.py) and the results consumer's reads
(classifier/results/reports.py).

The format is Celery's task protocol 2 (headers, properties and body from Celery's own `as_task_v2`), serialized as
JSON and wrapped as kombu's SQS transport wraps it: the body base64-encoded inside a JSON envelope, the envelope
base64-encoded again. A worker cannot tell these from messages Celery published (tests/common/test_task_messages.py
holds one against the other).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import Task, current_app
from kombu.serialization import dumps


def encode(
    name: str,
    task_id: str,
    args: Sequence[Any],
    routing_key: str,
    *,
    time_limit: float | None = None,
    soft_time_limit: float | None = None,
    ignore_result: bool = False,
) -> str:
    """The SQS message body of one task message; for a task of ours, pass its own options as its `apply_async`
    would (`options_of`)."""
    message = current_app.amqp.as_task_v2(
        task_id,
        name,
        args=list(args),
        time_limit=time_limit,
        soft_time_limit=soft_time_limit,
        ignore_result=ignore_result,
    )
    content_type, content_encoding, body = dumps(message.body, serializer="json")
    envelope = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": content_encoding,
        "content-type": content_type,
        "headers": message.headers,
        "properties": {
            **message.properties,
            "delivery_mode": 2,
            "priority": 0,
            "body_encoding": "base64",
            "delivery_info": {"exchange": "", "routing_key": routing_key},
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return base64.b64encode(json.dumps(envelope).encode()).decode()


def options_of(task: Task) -> dict[str, Any]:
    """The options a task's messages carry (its time limits and ignore_result, from the task and Celery's config)."""
    return {
        "time_limit": task.time_limit,
        "soft_time_limit": task.soft_time_limit,
        "ignore_result": task.ignore_result,
    }


@dataclass(frozen=True)
class TaskMessage:
    name: str
    task_id: str
    args: list[Any]


def decode(sqs_body: str) -> TaskMessage:
    """A task message from its SQS body; ValueError, KeyError, IndexError or TypeError if it is not one."""
    envelope = json.loads(base64.b64decode(sqs_body))
    args = json.loads(base64.b64decode(envelope["body"]))[0]
    if not isinstance(args, list):
        raise TypeError(f"task arguments are a {type(args).__name__}, not a list")
    return TaskMessage(str(envelope["headers"]["task"]), str(envelope["headers"]["id"]), args)
