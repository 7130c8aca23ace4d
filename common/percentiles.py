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
    values = list(values)
    counts = [1.0] * len(values) if weights is None else weights
    pairs = sorted((value, weight) for value, weight in zip(values, counts, strict=True) if weight > 0)
    if not pairs:
        raise ValueError("no values")
    ordered = [value for value, _ in pairs]
    # The i-th value of the whole (0-based, each value counted its weight's times) is the first whose running
    # count passes i.
    running = list(itertools.accumulate(weight for _, weight in pairs))

    def at(index: float) -> float:
        return ordered[min(len(ordered) - 1, bisect.bisect_right(running, index))]

    result = []
    for q in qs:
        rank = max(0.0, running[-1] - 1) * q / 100
        low, high = at(math.floor(rank)), at(math.ceil(rank))
        result.append(low + (high - low) * (rank - math.floor(rank)))
    return result


def percentile(values: Iterable[float], q: float, weights: Iterable[float] | None = None) -> float:
    return percentiles(values, [q], weights)[0]


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None


def summarize(values: Iterable[float]) -> Percentiles:
    """Count, p50, p95 and p99 of `values` (None for each percentile when there are none)."""
    values = list(values)
    if not values:
        return Percentiles(0, None, None, None)
    p50, p95, p99 = percentiles(values, [50, 95, 99])
    return Percentiles(len(values), p50, p95, p99)
