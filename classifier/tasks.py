"""Celery tasks: thin wrappers that take ids and keys, never model objects.

`classify` runs on app-tier workers (queue `classify`); the `record_*` tasks run in the results consumer on the
web host (queue `results`) and are the only ones that touch the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_process_init
from django.conf import settings

from classifier.inference import get_classifier
from classifier.results import recording
from classifier.worker.failures import Action, backoff_seconds, verdict
from classifier.worker.job import ResultPayload, classify_stored_image, now_iso
from classifier.worker.notices import StartedNotice
from common.outages import OutageLog, database_unreachable

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="classifier.classify")
def classify(self: Task, request_id: str, input_key: str, original_name: str) -> None:
    worker = self.request.hostname or "unknown"
    started_at = now_iso()
    notice = StartedNotice(
        lambda: record_started.delay(request_id, worker, started_at), settings.STARTED_NOTICE_SECONDS
    )
    try:
        result = classify_stored_image(request_id, input_key, original_name, worker)
    except Exception as exc:
        decided = verdict(exc, input_key=input_key, retries=self.request.retries)
        if decided.action == Action.HAND_BACK:
            raise  # unexpected: not acknowledged, received again, dead-lettered after SQS_MAX_RECEIVE_COUNT
        if decided.action == Action.RETRY:
            raise self.retry(exc=exc, countdown=decided.countdown) from exc
        logger.warning("request %s failed: %s", request_id, exc)  # the whole error here; the row gets the reason
        record_failure.delay(request_id, decided.reason, worker, now_iso())
        return
    finally:
        notice.cancel()
    record_result.delay(request_id, result)


# A result that arrives while the database is away is tried again after a backoff, for as long as the outage lasts:
# dropping it would leave its request waiting for the sweeper's deadline (and its synchronous caller past its wait).
# The outage is logged once per consumer process, and its end, however many results wait meanwhile.
RECORD_RETRY_CAP = 30.0
_recording = OutageLog(logger, "recording results")


def _record(task: Task, record: Callable[..., object], *args: Any) -> None:
    try:
        record(*args)
    except Exception as exc:
        if not database_unreachable(exc):
            raise
        _recording.failed(exc)
        countdown = backoff_seconds(task.request.retries, base=1.0, cap=RECORD_RETRY_CAP)
        raise task.retry(exc=exc, countdown=countdown, max_retries=None) from exc
    _recording.succeeded()


@shared_task(bind=True, name="classifier.record_started")
def record_started(self: Task, request_id: str, worker: str, started_at: str) -> None:
    _record(self, recording.record_started, request_id, worker, started_at)


@shared_task(bind=True, name="classifier.record_result")
def record_result(self: Task, request_id: str, result: ResultPayload) -> None:
    _record(self, recording.record_result, request_id, result)


@shared_task(bind=True, name="classifier.record_failure")
def record_failure(self: Task, request_id: str, reason: str, worker: str, finished_at: str) -> None:
    _record(self, recording.record_failure, request_id, reason, worker, finished_at)


@worker_process_init.connect
def _load_model_early(**_: Any) -> None:
    """Pay the model's load time when a worker process starts, not in its first request's latency.

    Set on app-tier workers only: the results consumer never classifies and should not hold a model.
    """
    if settings.CLASSIFIER_PRELOAD:
        get_classifier()
