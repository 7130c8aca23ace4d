"""Recording what workers report (results consumer). Every function is safe to run twice: the first answer wins.

Each write is one of the model's conditional transitions, so two consumers racing on a redelivered message cannot
both win.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from classifier.models import Classification
from classifier.worker.job import ResultPayload
from common import metrics

logger = logging.getLogger(__name__)


def record_started(request_id: str, worker: str, started_at: str) -> bool:
    """queued → running. A late or repeated notice (after the result, or a second worker) changes nothing."""
    return Classification.objects.filter(pk=request_id).start(worker, datetime.fromisoformat(started_at)) == 1


@transaction.atomic  # counted and recorded together: a retry after a lost connection does not count twice
def record_result(request_id: str, result: ResultPayload) -> bool:
    """Store the result unless one is already there. Returns True when this call recorded it.

    The first result is recorded and counted as a delivery in one statement; only a redelivery (or a result for a
    request the database does not know) takes a second."""
    this_request = Classification.objects.filter(pk=request_id)
    updated = this_request.complete(
        timezone.now(),
        result_deliveries=F("result_deliveries") + 1,
        label=result["label"],
        class_id=result["class_id"],
        top5=result["top5"],
        model_name=result["model_name"],
        model_version=result["model_version"],
        inference_ms=result["inference_ms"],
        output_key=result["output_key"],
        worker=result["worker"],
        started_at=datetime.fromisoformat(result["started_at"]),
        finished_at=datetime.fromisoformat(result["finished_at"]),
    )
    if not updated:
        if not this_request.count_delivery():
            logger.warning("result for unknown request %s dropped", request_id)
            return False
        logger.info("duplicate result for %s ignored", request_id)
        metrics.DUPLICATE_RESULTS.inc()
        return False
    _observe(this_request, result)
    return True


def _observe(this_request: models.QuerySet[Classification], result: ResultPayload) -> None:
    """The request's timings, into the latency histograms: turnaround, queue wait, the model's own time."""
    row = this_request.values("created_at", "recorded_at", "started_at").first()
    if row is None:
        return
    metrics.TURNAROUND.observe((row["recorded_at"] - row["created_at"]).total_seconds())
    metrics.QUEUE_WAIT.observe(max(0.0, (row["started_at"] - row["created_at"]).total_seconds()))
    metrics.INFERENCE.observe(result["inference_ms"] / 1000)


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
