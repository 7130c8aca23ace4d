"""Celery tasks: thin wrappers that take ids and keys, never model objects.

`classify` runs on app-tier workers (queue `classify`); the `record_*` tasks run in the results consumer on the
web host (queue `results`) and are the only ones that touch the database. Every task's Celery id starts with its
request's id (`<id>` for classify, `<id>.result` and so on for the reports), so Celery's own log lines about a task
name the request too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
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


def report(task: Task, request_id: str, *args: Any) -> None:
    """Send one of the `record_*` tasks about a request, with an id that names it (`<request id>.result`)."""
    task.apply_async((request_id, *args), task_id=f"{request_id}.{task.name.rsplit('_', 1)[-1]}")


@shared_task(bind=True, name="classifier.classify")
def classify(self: Task, request_id: str, input_key: str, original_name: str, expires_at: str | None = None) -> None:
    worker = self.request.hostname or "unknown"
    started_at = now_iso()
    if expires_at is not None and (late := expired_by(expires_at)) is not None:
        logger.info("request %s expired %.1f s before a worker took it: not classified", request_id, late)
        reason = f"expired: its time to live ended {late:.1f} s before a worker took it; not classified"
        report(record_expired, request_id, reason, worker, started_at)
        return
    notice = StartedNotice(lambda: report(record_started, request_id, worker, started_at),
                           settings.STARTED_NOTICE_SECONDS)  # fmt: skip
    try:
        result = classify_stored_image(request_id, input_key, original_name, worker)
    except Exception as exc:
        decided = verdict(exc, input_key=input_key, retries=self.request.retries)
        if decided.action == Action.HAND_BACK:
            raise  # unexpected: not acknowledged, received again, dead-lettered after SQS_MAX_RECEIVE_COUNT
        if decided.action == Action.RETRY:
            raise self.retry(exc=exc, countdown=decided.countdown) from exc
        logger.warning("request %s failed: %s", request_id, exc)  # the whole error here; the row gets the reason
        report(record_failure, request_id, decided.reason, worker, now_iso())
        return
    finally:
        notice.cancel()
    report(record_result, request_id, result)


def expired_by(expires_at: str) -> float | None:
    """Seconds since the request's time to live ended, or None while it lasts."""
    late = (datetime.now(UTC) - datetime.fromisoformat(expires_at)).total_seconds()
    return late if late > 0 else None


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


@shared_task(bind=True, name="classifier.record_expired")
def record_expired(self: Task, request_id: str, reason: str, worker: str, finished_at: str) -> None:
    _record(self, recording.record_expired, request_id, reason, worker, finished_at)


@worker_process_init.connect
def _load_model_early(**_: Any) -> None:
    """Pay the model's load time when a worker process starts, not in its first request's latency.

    Set on app-tier workers only: the results consumer never classifies and should not hold a model.
    """
    if settings.CLASSIFIER_PRELOAD:
        get_classifier()
