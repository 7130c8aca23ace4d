"""Recording what workers report (results consumer). Every function is safe to run twice: the first answer wins.

Each write is one of the model's conditional transitions, so two consumers racing on a redelivered message cannot
both win.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from classifier.contract import ResultPayload
from classifier.models import PENDING_STATUSES, Classification, Status
from classifier.results.waiting import answer_of
from classifier.results.wakeup import Answer
from common import metrics
from common.logs import about_request

logger = logging.getLogger(__name__)

# The result fields that go to the row's columns as they are (the times are parsed first).
RESULT_COLUMNS = ("label", "class_id", "top5", "model_name", "model_version", "inference_ms", "output_key", "worker")


def record_started(request_id: str, worker: str, started_at: str) -> bool:
    """queued → running. A late or repeated notice (after the result, or a second worker) changes nothing."""
    return Classification.objects.filter(pk=request_id).start(worker, datetime.fromisoformat(started_at)) == 1


@transaction.atomic  # counted and recorded together: a retry after a lost connection does not count twice
def record_result(request_id: str, result: ResultPayload) -> bool:
    """Store the result unless one is already there. Returns True when this call recorded it.

    The first result is recorded and counted as a delivery in one statement; only a redelivery (or a result for a
    request the database does not know) takes a second."""
    this_request = Classification.objects.filter(pk=request_id)
    updated = this_request.complete(timezone.now(), result_deliveries=F("result_deliveries") + 1, **_columns(result))
    if not updated:
        _count_another(this_request, request_id)
        return False
    _observe(this_request, result)
    return True


def record_results(results: Sequence[tuple[str, ResultPayload]]) -> dict[str, Answer]:
    """`record_result` for a batch of results, in one transaction of three statements however many there are: which
    requests still wait, the one UPDATE that completes them all, the deliveries of the rest. Returns what this call
    recorded, by request id, as the answers its waiters get (classifier/results/waiting.py); a redelivered or
    unknown one is counted and logged as `record_result` does.

    The look and the update see the same rows: PostgreSQL locks them (SELECT ... FOR UPDATE), and SQLite's
    transactions here begin IMMEDIATE (project/settings.py), holding the one write lock from the start."""
    first: dict[uuid.UUID, ResultPayload] = {}
    again: list[uuid.UUID] = []  # a second result for a request earlier in the same batch
    for request_id, result in results:
        key = uuid.UUID(request_id)
        if key in first:
            again.append(key)
        else:
            first[key] = result
    with transaction.atomic():
        these = Classification.objects.with_ids(first).select_for_update()
        waiting = {
            pk: (created_at, original_name)
            for pk, created_at, original_name, status in these.values_list(
                "pk", "created_at", "original_name", "status"
            )
            if status in PENDING_STATUSES
        }
        values = {pk: _columns(first[pk]) for pk in waiting}
        recorded_at = timezone.now()
        Classification.objects.complete_each(recorded_at, values)
        for pk in [pk for pk in first if pk not in waiting] + again:
            _count_another(Classification.objects.filter(pk=pk), str(pk))
    for pk, (created_at, _) in waiting.items():
        _observe_times(created_at, recorded_at, values[pk]["started_at"], first[pk])
    return {
        str(pk): answer_of(id=pk, status=Status.DONE, label=first[pk]["label"], error="", original_name=waiting[pk][1])
        for pk in first
        if pk in waiting
    }


def _columns(result: ResultPayload) -> dict[str, Any]:
    """A worker's result as the row's columns."""
    return {
        **{name: result[name] for name in RESULT_COLUMNS},  # type: ignore[literal-required]
        "started_at": datetime.fromisoformat(result["started_at"]),
        "finished_at": datetime.fromisoformat(result["finished_at"]),
    }


def _count_another(this_request: models.QuerySet[Classification], request_id: str) -> None:
    """A result for a request that has one already (a redelivery), or that the database does not know."""
    with about_request(request_id):
        if not this_request.count_delivery():
            logger.warning("result for unknown request %s dropped", request_id)
            return
        logger.info("duplicate result for %s ignored", request_id)
    metrics.DUPLICATE_RESULTS.inc()


def _observe_times(created_at: datetime, recorded_at: datetime, started_at: datetime, result: ResultPayload) -> None:
    metrics.TURNAROUND.observe((recorded_at - created_at).total_seconds())
    metrics.QUEUE_WAIT.observe(max(0.0, (started_at - created_at).total_seconds()))
    metrics.INFERENCE.observe(result["inference_ms"] / 1000)
    if "model_cpu_ms" in result:  # a worker from before it was measured sends none
        metrics.MODEL_CPU.observe(result["model_cpu_ms"] / 1000)


def _observe(this_request: models.QuerySet[Classification], result: ResultPayload) -> None:
    """The request's timings, into the histograms: turnaround, queue wait, the model's own time and CPU."""
    row = this_request.values("created_at", "recorded_at", "started_at").first()
    if row is not None:
        _observe_times(row["created_at"], row["recorded_at"], row["started_at"], result)


def record_failure(request_id: str, reason: str, worker: str, finished_at: str) -> bool:
    """Mark a request failed for a reason no retry will fix (an image the model cannot read)."""
    facts = {"worker": worker, "finished_at": datetime.fromisoformat(finished_at)}
    return Classification.objects.filter(pk=request_id).fail(reason, timezone.now(), **facts) == 1


def record_expired(request_id: str, reason: str, worker: str, finished_at: str) -> bool:
    """Mark a request expired: a worker took it after its time to live and did not classify it."""
    facts = {"worker": worker, "finished_at": datetime.fromisoformat(finished_at)}
    this_request = Classification.objects.filter(pk=request_id)
    if not this_request.expire(reason, timezone.now(), **facts):
        return False
    row = this_request.values("created_at", "recorded_at").first()
    if row is not None:
        metrics.TURNAROUND.observe((row["recorded_at"] - row["created_at"]).total_seconds())
    return True
