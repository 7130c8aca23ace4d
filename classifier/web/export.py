"""Requests as CSV, for an operator's spreadsheet (the admin's export action)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

from classifier.models import Classification

COLUMNS = [
    "id", "status", "file_name", "label", "class_id", "top5", "model", "model_version", "worker", "error",
    "queued_at", "started_at", "finished_at", "recorded_at", "queue_wait_s", "turnaround_s", "inference_ms",
    "dispatches", "result_deliveries",
]  # fmt: skip


class Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def _iso(value: Any) -> str:
    return value.isoformat() if value else ""


def _seconds(value: Any) -> str:
    return f"{value.total_seconds():.3f}" if value is not None else ""


def row_of(item: Classification) -> list[object]:
    top5 = "; ".join(f"{guess['label']} {guess['probability']:.4f}" for guess in item.top5)
    return [
        item.pk, item.status, item.original_name, item.label, item.class_id if item.class_id is not None else "",
        top5, item.model_name, item.model_version, item.worker, item.error,
        _iso(item.created_at), _iso(item.started_at), _iso(item.finished_at), _iso(item.recorded_at),
        _seconds(item.queue_wait), _seconds(item.turnaround),
        f"{item.inference_ms:.1f}" if item.inference_ms is not None else "", item.dispatches, item.result_deliveries,
    ]  # fmt: skip


def write_csv(rows: Iterable[Classification], out: Writable) -> None:
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for item in rows:
        writer.writerow([_defused(value) for value in row_of(item)])


def _defused(value: object) -> object:
    """A client-chosen file name must not become a spreadsheet formula when the file is opened (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
