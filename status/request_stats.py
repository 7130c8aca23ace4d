"""Throughput and latency of the requests over a recent window, for the status page.

Percentiles are computed here, in Python, over at most LATENCY_ROW_CAP rows (the newest results): portable across
SQLite and PostgreSQL, and a busy hour cannot make a status refresh load the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count

from classifier.models import Classification, Status
from common.percentiles import Percentiles, summarize

DEFAULT_MINUTES = 5
MIN_MINUTES = 1
MAX_MINUTES = 60
LATENCY_ROW_CAP = 10_000
# Results are looked for among requests created this long before the window: it lets the database use the index
# on created_at instead of scanning every row for recorded_at. A request that took longer is not counted.
LOOKBACK = timedelta(hours=24)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


def parse_minutes(raw: str | None) -> int:
    """The `?minutes=` of a request: DEFAULT_MINUTES when absent; ValueError with a message when out of range."""
    if raw is None or raw.strip() == "":
        return DEFAULT_MINUTES
    try:
        minutes = int(raw)
    except ValueError:
        raise ValueError(f"minutes must be a whole number from {MIN_MINUTES} to {MAX_MINUTES}, not {raw!r}") from None
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes must be from {MIN_MINUTES} to {MAX_MINUTES}, not {minutes}")
    return minutes


def window_ending(now: datetime, minutes: int) -> Window:
    return Window(now - timedelta(minutes=minutes), now)


@dataclass(frozen=True)
class RequestStats:
    finished: int  # done + failed + expired, recorded within the window
    done: int
    failed: int
    expired: int
    throughput_per_minute: float  # finished per minute
    by_status: dict[str, int]  # requests created within the window, by their status now
    turnaround: Percentiles  # seconds from upload to recorded result, done requests
    queue_wait: Percentiles  # seconds from upload to a worker starting on it, done requests
    latency_rows: int  # the done requests the percentiles come from
    latency_capped: bool  # more were done in the window: the percentiles cover the newest LATENCY_ROW_CAP


def latencies(rows: Iterable[tuple[datetime, datetime | None, datetime]]) -> tuple[list[float], list[float]]:
    """Turnarounds and queue waits in seconds from (created_at, started_at, recorded_at) rows."""
    turnaround, queue_wait = [], []
    for created, started, recorded in rows:
        turnaround.append((recorded - created).total_seconds())
        if started is not None:
            # started_at is the worker's clock, created_at the web tier's: a little skew must not read as negative.
            queue_wait.append(max(0.0, (started - created).total_seconds()))
    return turnaround, queue_wait


def request_stats(window: Window, cap: int = LATENCY_ROW_CAP) -> RequestStats:
    finished = Classification.objects.finished().filter(
        created_at__gte=window.start - LOOKBACK,
        recorded_at__gte=window.start,
        recorded_at__lte=window.end,
    )
    outcome = dict(finished.values_list("status").annotate(n=Count("pk")).order_by())
    created = Classification.objects.filter(created_at__gte=window.start, created_at__lte=window.end)
    by_status = {status: 0 for status in Status.values} | dict(
        created.values_list("status").annotate(n=Count("pk")).order_by()
    )
    done, failed, expired = (outcome.get(status, 0) for status in (Status.DONE, Status.FAILED, Status.EXPIRED))
    rows = list(
        finished.filter(status=Status.DONE)
        .order_by("-recorded_at")
        .values_list("created_at", "started_at", "recorded_at")[:cap]
    )
    turnaround, queue_wait = latencies(rows)
    return RequestStats(
        finished=done + failed + expired,
        done=done,
        failed=failed,
        expired=expired,
        throughput_per_minute=(done + failed + expired) / window.minutes,
        by_status=by_status,
        turnaround=summarize(turnaround),
        queue_wait=summarize(queue_wait),
        latency_rows=len(rows),
        latency_capped=done > len(rows),
    )
