"""A job's images read and classified back to back, before its requests run through Celery's tracer one by one.

A job of several requests (fastpaths/celery_pool.py) used to run each request whole, in turn: its input read,
the model, its output written, its report, and Celery's tracer and signals around them. A forward pass sweeps the
CPU's caches, so all the Python between two of them ran cold: the worker's own steps for a request (read, keys,
write, report fields) cost several times more CPU between two forward passes than back to back (bench/README.md has
the measurement). So a job first reads all its inputs, then classifies its
images one after another, and then its requests run through the tracer as before, each task taking its prediction
from here (`take`) instead of running the model.

What stays each request's own:
- its expiry: a request found past its time to live here is not classified; its task reports it expired;
- its "running" notice: sent if classifying it lasts STARTED_NOTICE_SECONDS (classifier/worker/notices.py);
- its failures: what reading or classifying it raised is kept and raised in its task where the task would have met
  it, so retries, failures and hand-backs follow classifier/worker/failures.py as before.

A pool process that dies here (a poison image) fails the job as a whole, and its requests go to the pool again one
per job (fastpaths/celery_pool.py), where nothing is classified ahead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from classifier.worker.job import Classified, classify_input, expired_by, now_iso, read_input
from classifier.worker.notices import started_notice
from common.logs import about_request

# Request id → its image classified ahead, in this pool process, for the job under way.
_classified: dict[str, Classified] = {}
# Inputs held at once, at most: ten uploads of the largest size allowed (UPLOAD_MAX_BYTES, 10 MiB) would otherwise
# all be in memory together, where one at a time was before. Past this, what was read is classified first.
HELD_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class _Read:
    request_id: str
    worker: str
    started_at: str
    data: bytes


def classify_job(requests: Sequence[Mapping[str, Any]], parameters: Sequence[str]) -> None:
    """A job's requests (Celery's request dicts; `parameters`: the task's, in order): every input read, then every
    image classified, each phase back to back (in parts, where the inputs together pass HELD_BYTES)."""
    read: list[_Read] = []
    held = 0
    for request in requests:
        arguments = dict(zip(parameters, request.get("args") or (), strict=False)) | (request.get("kwargs") or {})
        expires_at = arguments.get("expires_at")
        if expires_at is not None and expired_by(expires_at) is not None:
            continue  # its task reports the expiry
        request_id, started_at = request["id"], now_iso()
        try:
            data = read_input(arguments["input_key"])
        except Exception as exc:  # the task's to judge (classifier/worker/failures.py)
            _classified[request_id] = Classified(started_at, error=exc)
            continue
        read.append(_Read(request_id, request.get("hostname") or "unknown", started_at, data))
        held += len(data)
        if held >= HELD_BYTES:
            _classify(read)
            read, held = [], 0
    _classify(read)


def _classify(read: Sequence[_Read]) -> None:
    for one in read:
        with about_request(one.request_id):
            notice = started_notice(one.request_id, one.worker, one.started_at)
            try:
                _classified[one.request_id] = classify_input(one.data, one.started_at)
            finally:
                notice.cancel()


def take(request_id: str) -> Classified | None:
    """The request's image, if it was classified ahead (once: a retry classifies again)."""
    return _classified.pop(request_id, None)


def forget() -> None:
    """The job is over: what its tasks did not take (one that never ran) is not kept for another."""
    _classified.clear()
