"""Sending a request to the classify queue: the upload's own send, the sweeper's re-sends, an operator's re-run.

The message carries the request's id and its input key, never the row: workers have no database.
"""

from __future__ import annotations

import logging

from classifier.models import Classification
from classifier.tasks import classify

logger = logging.getLogger(__name__)


def send_for_classification(row: Classification) -> None:
    classify.apply_async(args=[str(row.id), row.input_key, row.original_name])
    logger.info("queued %s (%s)", row.id, row.original_name)
