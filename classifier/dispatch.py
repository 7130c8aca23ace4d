"""Sending a request to the classify queue: the upload's own send, the sweeper's re-sends, an operator's re-run.

The message carries the request's id and its input key, never the row: workers have no database.
"""

from __future__ import annotations

import logging

from classifier.models import Classification
from classifier.tasks import classify
from common.logs import about_request

logger = logging.getLogger(__name__)


def send_for_classification(row: Classification) -> None:
    """The task's id is the request's, so Celery's own log lines about it name the request (common/logs.py)."""
    expires_at = row.expires_at.isoformat() if row.expires_at is not None else None
    with about_request(row.id):
        classify.apply_async(args=[str(row.id), row.input_key, row.original_name, expires_at], task_id=str(row.id))
        logger.info("queued %s (%s)", row.id, row.original_name)
