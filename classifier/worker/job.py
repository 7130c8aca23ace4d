"""What a worker does with one request: read the image, classify it, write the output object.

Workers have no database: everything they learn goes back as a JSON payload on the results queue.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import NotRequired, TypedDict

from django.core.files.base import ContentFile

from classifier import storage
from classifier.inference import get_classifier


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


logger = logging.getLogger(__name__)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def classify_stored_image(request_id: str, input_key: str, original_name: str, worker: str) -> ResultPayload:
    """Raises UnreadableImage for an image no retry will fix; storage errors propagate (they may be transient)."""
    started_at = now_iso()
    with storage.inputs().open(input_key, "rb") as stored:
        data = stored.read()
    prediction = get_classifier().classify(data)
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
        started_at=started_at,
        finished_at=now_iso(),
    )
