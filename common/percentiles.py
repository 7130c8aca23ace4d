"""Percentiles, one definition for every figure we print: the status page, the load generator, the benchmarks and
the simulator.

The q-th percentile interpolates linearly between the two nearest ranks (NumPy's default, and what a spreadsheet's
PERCENTILE computes). Weights count a value that many times without repeating it: the simulator serves images in
batches of thousands that all waited the same time.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentiles(values: Iterable[float], qs: Sequence[float], weights: Iterable[float] | None = None) -> list[float]:
    """The percentiles `qs` (each 0-100) of `values`, sorted once; ValueError when there are no values."""
    for q in qs:
        if not 0 <= q <= 100:
            raise ValueError(f"a percentile must be within 0..100, not {q}")
    if weights is None:
        ordered = sorted(values)
        if not ordered:
            raise ValueError("no values")
        return [_interpolate(ordered, (len(ordered) - 1) * q / 100) for q in qs]
    pairs = sorted((value, weight) for value, weight in zip(values, weights, strict=True) if weight > 0)
    if not pairs:
        raise ValueError("no values")
    ordered_values = [value for value, _ in pairs]
    # The i-th of the total (0-based) is the first value whose running count passes i.
    running = list(itertools.accumulate(weight for _, weight in pairs))
    total = running[-1]

    def at(index: float) -> float:
        return ordered_values[min(len(pairs) - 1, bisect.bisect_right(running, index))]

    result = []
    for q in qs:
        rank = max(0.0, total - 1) * q / 100
        low, high = at(math.floor(rank)), at(math.ceil(rank))
        result.append(low + (high - low) * (rank - math.floor(rank)))
    return result


def percentile(values: Iterable[float], q: float, weights: Iterable[float] | None = None) -> float:
    return percentiles(values, [q], weights)[0]


def _interpolate(ordered: Sequence[float], rank: float) -> float:
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None


def summarize(values: Iterable[float]) -> Percentiles:
    """Count, p50, p95 and p99 of `values` (None for each percentile when there are none)."""
    ordered = sorted(values)
    if not ordered:
        return Percentiles(0, None, None, None)
    p50, p95, p99 = percentiles(ordered, [50, 95, 99])
    return Percentiles(len(ordered), p50, p95, p99)
