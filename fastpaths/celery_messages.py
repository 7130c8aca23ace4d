"""Celery and kombu, bent: Celery task messages as SQS message bodies, both ways, without a Celery producer. The web
tier's batched classify sends build them here (classifier/dispatch.py; with FAST_PATHS off, or `celery_messages` not
in it, each send is Celery's own `apply_async`), and the dead-letter tools read the request id back
(classifier/recovery/dead_letters.py).

The format is Celery's task protocol 2 (headers, properties and body from Celery's own `as_task_v2`), serialized as
JSON and wrapped as kombu's SQS transport wraps it: the body base64-encoded inside a JSON envelope, the envelope
base64-encoded again. That wrapping is a copy of what kombu does on a publish; tests/fastpaths/test_guards.py holds
the source it was read from, and tests/fastpaths/test_celery_messages.py holds a message built here against one
Celery published: a worker cannot tell them apart.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import Task, current_app
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr
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
    argsrepr: str | None = None,
) -> str:
    """The SQS message body of one task message; for a task of ours, pass its own options as its `apply_async`
    would (`options_of`). `argsrepr`, what logs show of the arguments, is Celery's own repr of them unless given."""
    amqp = current_app.amqp
    constants = _per_process()
    arguments = list(args)
    message = amqp.as_task_v2(
        task_id,
        name,
        args=arguments,
        time_limit=time_limit,
        soft_time_limit=soft_time_limit,
        ignore_result=ignore_result,
        # What as_task_v2 would work out for itself, through two lookups in Celery's configuration and the host's
        # name: most of the cost of a message, paid by the web tier per request.
        argsrepr=argsrepr
        if argsrepr is not None
        else saferepr(arguments, amqp.argsrepr_maxsize, maxlevels=constants.repr_maxlevels),
        kwargsrepr=constants.kwargsrepr,
        origin=constants.origin,
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


@dataclass(frozen=True)
class _Constants:
    pid: int
    origin: str
    repr_maxlevels: int
    kwargsrepr: str


_constants: _Constants | None = None


def _per_process() -> _Constants:
    """What every message of this process shares (`origin` names the process, so a forked child works it out anew)."""
    global _constants
    if _constants is None or _constants.pid != os.getpid():
        app = current_app
        maxlevels = app.conf.task_repr_maxlevels
        _constants = _Constants(
            os.getpid(), anon_nodename(), maxlevels, saferepr({}, app.amqp.kwargsrepr_maxsize, maxlevels=maxlevels)
        )
    return _constants


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
