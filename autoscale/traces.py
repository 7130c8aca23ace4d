"""Arrival traces for the simulator: named patterns, or a CSV of arrival times."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Trace:
    name: str
    duration: float  # seconds during which work arrives
    arrivals: Callable[[float, float, np.random.Generator], int]  # (start, dt, rng) -> arrivals in [start, start+dt)
    # (start, dt) -> (the worker-seconds of those arrivals that carry a recorded time, how many carry one); the rest
    # take the simulator's own figure. None: no arrival carries one.
    service: Callable[[float, float], tuple[float, int]] | None = None


def _poisson(rate: Callable[[float], float]) -> Callable[[float, float, np.random.Generator], int]:
    return lambda start, dt, rng: int(rng.poisson(max(0.0, rate(start + dt / 2)) * dt))


def named(name: str, rate: float = 2.0) -> Trace:
    if name == "burst100":  # the course's workload generator: 100 images at once
        return Trace(name, 1.0, lambda start, dt, rng: 100 if start == 0 else 0)
    if name == "poisson":
        return Trace(name, 600.0, _poisson(lambda t: rate))
    if name == "diurnal":  # a day: quiet nights, a broad peak at noon, `rate` on average
        day = 86_400.0
        return Trace(name, day, _poisson(lambda t: rate * (1 - math.cos(2 * math.pi * t / day))))
    if name == "spike":  # a steady trickle, then thirty seconds at 25x
        return Trace(name, 600.0, _poisson(lambda t: rate * (25 if 300 <= t < 330 else 1)))
    raise ValueError(f"unknown trace {name!r}: use burst100, poisson, diurnal, spike or a CSV file")


def from_csv(path: Path) -> Trace:
    """One row per arrival, column `t` (seconds from the start); an optional `count` column repeats it, and an
    optional `service` column gives the seconds a worker spent on it (recorded timings replayed)."""
    rows: list[tuple[float, int, float | None]] = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            service = float(row["service"]) if row.get("service") else None
            if service is not None and service <= 0:
                raise ValueError(f"service times must be positive, got {service:g} at t={row['t']}")
            rows.append((float(row["t"]), int(row.get("count") or 1), service))
    rows.sort(key=lambda row: row[0])
    stamps = np.array([t for t, _, _ in rows], dtype=float)
    counts = np.cumsum([0] + [c for _, c, _ in rows])
    timed = any(service is not None for _, _, service in rows)
    # Work per row where a service time is given (0 elsewhere), and how many images carry one, both cumulative.
    work = np.cumsum([0.0] + [c * (service or 0.0) for _, c, service in rows])
    timed_counts = np.cumsum([0] + [c if service is not None else 0 for _, c, service in rows])

    def arrivals(start: float, dt: float, rng: np.random.Generator) -> int:
        lo, hi = np.searchsorted(stamps, [start, start + dt], side="left")
        return int(counts[hi] - counts[lo])

    def service(start: float, dt: float) -> tuple[float, int]:
        lo, hi = np.searchsorted(stamps, [start, start + dt], side="left")
        return float(work[hi] - work[lo]), int(timed_counts[hi] - timed_counts[lo])

    duration = float(stamps[-1]) + 1 if len(stamps) else 0.0
    return Trace(path.stem, duration, arrivals, service if timed else None)


def load(spec: str, rate: float = 2.0) -> Trace:
    path = Path(spec)
    return from_csv(path) if path.suffix == ".csv" else named(spec, rate)
