"""What workers tell the web tier, and how it travels: the one contract between classifier/worker/ (which sends) and
classifier/results/ (which reads). Neither imports the other; both import this.

A message on the results queue is plain JSON, versioned:

    {"version": 1, "reports": [{"kind": "result", "request_id": "<uuid>", "result": {...}}, ...]}

Each report names its kind and carries that kind's fields (FIELDS). A worker sends a batch's reports as one message
(classifier/worker/outbox.py); a reader takes any number of reports from a message. A reader refuses a message whose
version it does not know (or that is not JSON of this shape) with `UnreadableReport`, whose text says why: the
results consumer then moves it to the dead-letter queue with that reason (classifier/results/consumer.py). A new
version is added beside the old one, read by the web tier before any worker sends it.

Version 0 is what workers sent before this format: Celery task messages (`classifier.record_<kind>`, or
`classifier.record_reports` carrying several). The web tier still reads it, so a deployment that updates the web
hosts first loses no report from workers of the previous release still draining the queue; workers send version 1
only. It goes once no worker of that release can be running.

The backoff rule both sides use (a worker's retry countdown, the consumer's put-back during a database outage) is
here too: one rule, one place.
"""

from __future__ import annotations

import enum
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

VERSION = 1


class Kind(enum.StrEnum):
    STARTED = "started"  # a worker has held the request a while
    RESULT = "result"  # classified
    FAILURE = "failure"  # no retry will fix it
    EXPIRED = "expired"  # taken after its time to live


# Each kind's fields, after the request id, in the order the recording functions take them.
FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.STARTED: ("worker", "started_at"),
    Kind.RESULT: ("result",),
    Kind.FAILURE: ("reason", "worker", "finished_at"),
    Kind.EXPIRED: ("reason", "worker", "finished_at"),
}


class ResultPayload(TypedDict):
    label: str
    class_id: int
    top5: list[dict[str, object]]
    model_name: str
    model_version: str
    inference_ms: float
    model_cpu_ms: NotRequired[float]  # decode, preprocess and forward, the worker's CPU; absent from older workers
    output_key: str
    worker: str
    started_at: str
    finished_at: str


@dataclass(frozen=True)
class Outgoing:
    """One report: its kind, its request, and its kind's fields in FIELDS' order."""

    kind: Kind
    request_id: str
    args: tuple[Any, ...]


class UnreadableReport(ValueError):
    """A message that is not reports of a version this reader knows; its text says why."""


def encode(reports: Sequence[Outgoing]) -> str:
    """The body of one results-queue message carrying these reports."""
    entries = []
    for report in reports:
        names = FIELDS[report.kind]
        if len(report.args) != len(names):
            raise ValueError(f"a {report.kind} report takes {', '.join(names)}; got {len(report.args)} values")
        entries.append(
            {"kind": report.kind.value, "request_id": report.request_id, **dict(zip(names, report.args, strict=True))}
        )
    return json.dumps({"version": VERSION, "reports": entries}, separators=(",", ":"))


def decode(body: str) -> list[Outgoing]:
    """The reports a results-queue message carries; UnreadableReport, saying why, if it is not one this reader
    knows."""
    try:
        message = json.loads(body)
    except ValueError:
        return _version_0(body)
    if not isinstance(message, dict) or "version" not in message:
        raise UnreadableReport("no version: not a results message")
    if message["version"] != VERSION:
        raise UnreadableReport(f"version {message['version']!r}; this reader knows version {VERSION}")
    entries = message.get("reports")
    if not isinstance(entries, list) or not entries:
        raise UnreadableReport("no reports in the message")
    return [_report(entry) for entry in entries]


def _report(entry: Any) -> Outgoing:
    try:
        kind = Kind(entry["kind"])
        return Outgoing(kind, str(entry["request_id"]), tuple(entry[name] for name in FIELDS[kind]))
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreadableReport(f"a report without its fields ({exc!r})") from None


# Version 0's task names: one report per message, or several in a `classifier.record_reports` message.
_V0_KINDS = {f"classifier.record_{kind.value}": kind for kind in Kind}
_V0_SEVERAL = "classifier.record_reports"


def _version_0(body: str) -> list[Outgoing]:
    from fastpaths.celery_messages import decode as decode_task_message

    try:
        task = decode_task_message(body)
        calls = task.args[0] if task.name == _V0_SEVERAL else [[task.name, *task.args]]
        if not isinstance(calls, list) or not calls:
            raise TypeError("no reports")
        return [Outgoing(_V0_KINDS[name], str(request_id), tuple(rest)) for name, request_id, *rest in calls]
    except (ValueError, KeyError, IndexError, TypeError):
        raise UnreadableReport("not JSON, nor a report of version 0") from None


def backoff_seconds(retries: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter (AWS's recommendation): spread retries so they do not arrive together."""
    # The exponent stops growing long past any cap: 2 ** 1024 overflows a float, and retries may go on for hours.
    return random.uniform(0, min(cap, base * 2 ** min(retries, 32)))  # noqa: S311 - jitter, not cryptography
