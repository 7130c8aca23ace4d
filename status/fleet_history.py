"""The fleet as the autoscaler reported it, for the status page: the latest sample, a series, and the changes.

Reads only what the autoscaler wrote (FleetSample each tick, ScalingEvent per change). Every query is bounded:
a chart needs a few hundred points, not every tick of an hour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from autoscale.models import FleetSample, ScalingEvent

# One hour of ticks at the fastest interval the settings allow (0.5 s); more than that in an hour means two
# autoscalers share a provider name, and the newest rows are enough to draw.
MAX_ROWS = 7200
# Points sent to the browser: one per 10 s over an hour at most, plenty for a chart a few hundred pixels wide.
MAX_POINTS = 360
MAX_MARKERS = 200

T = TypeVar("T")


@dataclass(frozen=True)
class Point:
    time: datetime
    visible: int
    in_flight: int
    running: int
    pending: int


@dataclass(frozen=True)
class Marker:
    time: datetime
    action: str  # launch | terminate | error
    count: int  # instances launched or terminated


@dataclass(frozen=True)
class History:
    since: datetime
    points: list[Point]  # oldest first
    markers: list[Marker]  # oldest first
    stride: int  # 1: every sample; n: every n-th (the newest always kept)
    truncated: bool  # more samples than MAX_ROWS since `since`: the oldest are left out


def latest_sample() -> FleetSample | None:
    return FleetSample.objects.order_by("-time").first()


def thin(rows: Sequence[T], max_points: int) -> tuple[list[T], int]:
    """Every n-th row so that at most `max_points` remain, counted from the end: the newest row always stays."""
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    stride = max(1, math.ceil(len(rows) / max_points))
    return list(rows[::-1][::stride][::-1]), stride


def history(since: datetime, provider: str | None = None, max_points: int = MAX_POINTS) -> History:
    """Samples and fleet changes since `since`, of one provider's fleet (two fleets in one chart would zigzag)."""
    samples = FleetSample.objects.filter(time__gte=since)
    events = ScalingEvent.objects.filter(created_at__gte=since, dry_run=False)
    if provider is not None:
        samples = samples.filter(provider=provider)
        events = events.filter(provider=provider)
    newest_first = list(
        samples.order_by("-time").values_list("time", "visible", "in_flight", "running", "pending")[: MAX_ROWS + 1]
    )
    truncated = len(newest_first) > MAX_ROWS
    rows, stride = thin(newest_first[:MAX_ROWS][::-1], max_points)
    changes = events.order_by("-created_at").values_list("created_at", "action", "instance_ids")[:MAX_MARKERS]
    markers = [Marker(at, action, len(ids or [])) for at, action, ids in changes][::-1]
    return History(since, [Point(*row) for row in rows], markers, stride, truncated)
