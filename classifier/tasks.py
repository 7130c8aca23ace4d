"""The Celery task of app-tier workers: `classify`, a thin wrapper that takes ids and keys, never model objects.

What it learns goes back as reports on the results queue (in classifier/contract.py's format), which the results
consumer on the web host records: workers have no database. A task's final report leaves with its pool process's
next batch, and its classify message is deleted after it (classifier/worker/outbox.py). The task's Celery id is its
request's id, so Celery's own log lines about it name the request.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_process_init, worker_process_shutdown
from django.conf import settings

from classifier.contract import Kind
from classifier.inference import get_classifier
from classifier.worker import ahead
from classifier.worker.failures import Action, verdict
from classifier.worker.job import classify_stored_image, expired_by, now_iso
from classifier.worker.notices import started_notice
from classifier.worker.outbox import finish, held_message, outbox

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="classifier.classify")
def classify(self: Task, request_id: str, input_key: str, original_name: str, expires_at: str | None = None) -> None:
    worker = self.request.hostname or "unknown"
    started_at = now_iso()
    held = held_message(self.request.properties)  # deleted after this task's report is sent; None: reports go now
    classified = ahead.take(request_id)  # read and classified already, with the rest of its job
    if classified is None and expires_at is not None and (late := expired_by(expires_at)) is not None:
        logger.info("request %s expired %.1f s before a worker took it: not classified", request_id, late)
        reason = f"expired: its time to live ended {late:.1f} s before a worker took it; not classified"
        finish(held, Kind.EXPIRED, request_id, reason, worker, started_at)
        return
    notice = started_notice(request_id, worker, started_at) if classified is None else None
    try:
        result = classify_stored_image(request_id, input_key, original_name, worker, classified)
    except Exception as exc:
        decided = verdict(exc, input_key=input_key, retries=self.request.retries)
        if decided.action == Action.HAND_BACK:
            raise  # unexpected: not acknowledged, received again, dead-lettered after SQS_MAX_RECEIVE_COUNT
        if decided.action == Action.RETRY:
            logger.warning("request %s retried in %.0f s: %s", request_id, decided.countdown, exc)
            retry = self.retry(exc=exc, countdown=decided.countdown, throw=False)  # the retry's message is sent
            if held is not None:
                outbox().finish(held, None)  # so this one goes
            raise retry from exc
        logger.warning("request %s failed: %s", request_id, exc)  # the whole error here; the row gets the reason
        finish(held, Kind.FAILURE, request_id, decided.reason, worker, now_iso())
        return
    finally:
        if notice is not None:
            notice.cancel()
    finish(held, Kind.RESULT, request_id, result)


@worker_process_shutdown.connect
def _send_what_is_finished(**_: Any) -> None:
    """A pool process ending cleanly (a warm shutdown, a replaced process) sends its last batch first."""
    outbox().flush()


@worker_process_init.connect
def _load_model_early(**_: Any) -> None:
    """Pay the model's load time when a worker process starts, not in its first request's latency.

    Set on app-tier workers only: the results consumer never classifies and should not hold a model.
    """
    if settings.CLASSIFIER_PRELOAD:
        get_classifier()
