"""Rows and payloads the tests make, in one place: a request as intake would have inserted it, a worker's result."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from classifier.contract import ResultPayload
from classifier.models import Classification


def make_request(*, sent_seconds_ago: float | None = None, **fields: Any) -> Classification:
    """A request row (queued, one send, just now, unless `fields` say otherwise); `sent_seconds_ago` backdates its
    last send, as the sweeper sees it."""
    values: dict[str, Any] = {"original_name": "test_2.JPEG", "input_key": "k/test_2.JPEG"}
    if sent_seconds_ago is not None:
        values["dispatched_at"] = timezone.now() - timedelta(seconds=sent_seconds_ago)
    return Classification.objects.create(**{**values, **fields})


def result_payload(label: str = "monarch butterfly", worker: str = "worker-1@host") -> ResultPayload:
    """What a worker sends back for a classified image."""
    return ResultPayload(
        label=label,
        class_id=323,
        top5=[{"class_id": 323, "label": label, "probability": 0.84}],
        model_name="efficientnet_lite0",
        model_version="v1",
        inference_ms=25.0,
        model_cpu_ms=31.0,
        output_key="k/test_2",
        worker=worker,
        started_at="2026-11-27T10:00:00+00:00",
        finished_at="2026-11-27T10:00:01+00:00",
    )
