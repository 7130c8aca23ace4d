"""What a worker does with one request: read the image, classify it, write the output object.

Workers have no database: everything they learn goes back as a JSON payload on the results queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile

from classifier import storage
from classifier.contract import ResultPayload
from classifier.inference import get_classifier

if TYPE_CHECKING:
    from classifier.inference.model import Prediction


logger = logging.getLogger(__name__)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def expired_by(expires_at: str) -> float | None:
    """Seconds since a request's time to live ended, or None while it lasts."""
    late = (datetime.now(UTC) - datetime.fromisoformat(expires_at)).total_seconds()
    return late if late > 0 else None


@dataclass(frozen=True)
class Classified:
    """A request's image read and classified, or what stopped that; and when the work on it began."""

    started_at: str
    prediction: Prediction | None = None
    error: Exception | None = None

    def result(self) -> Prediction:
        """The prediction, or the error raised as reading or classifying raised it."""
        if self.error is not None:
            raise self.error
        assert self.prediction is not None
        return self.prediction


def read_input(input_key: str) -> bytes:
    with storage.inputs().open(input_key, "rb") as stored:
        return stored.read()


def classify_input(data: bytes, started_at: str) -> Classified:
    try:
        return Classified(started_at, prediction=get_classifier().classify(data))
    except Exception as exc:  # kept for the task, which decides what it means (classifier/worker/failures.py)
        return Classified(started_at, error=exc)


def read_and_classify(input_key: str, started_at: str) -> Classified:
    try:
        data = read_input(input_key)
    except Exception as exc:  # as above
        return Classified(started_at, error=exc)
    return classify_input(data, started_at)


def classify_stored_image(
    request_id: str, input_key: str, original_name: str, worker: str, classified: Classified | None = None
) -> ResultPayload:
    """Raises UnreadableImage for an image no retry will fix; storage errors propagate (they may be transient).

    `classified`: the image read and classified already, with the rest of its job (classifier/worker/ahead.py).
    """
    if classified is None:
        classified = read_and_classify(input_key, now_iso())
    prediction = classified.result()
    best = prediction.best
    key = storage.output_key(request_id, original_name)
    storage.outputs().save(key, ContentFile(storage.output_body(original_name, best.label).encode()))
    logger.info("classified %s (%s) as %s in %.0f ms", request_id, original_name, best.label, prediction.inference_ms)
    return ResultPayload(
        label=best.label,
        class_id=best.class_id,
        top5=[guess.as_dict() for guess in prediction.top5],
        model_name=prediction.model_name,
        model_version=prediction.model_version,
        inference_ms=round(prediction.inference_ms, 2),
        model_cpu_ms=round(prediction.cpu_ms or 0.0, 2),
        output_key=key,
        worker=worker,
        started_at=classified.started_at,
        finished_at=now_iso(),
    )
