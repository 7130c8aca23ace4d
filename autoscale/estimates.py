"""What the latency policy learns from what it observes: service time, boot time, arrival rate. Pure arithmetic.

Each estimate starts from a prior (a setting, or in the simulator the trace's own service time, standing for the
recorded results a running deployment already has) and follows what the fleet reports, from its first report on.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Smoothed:
    """An exponentially weighted mean that starts from a prior.

    The prior is a stand-in, not a measurement: the first sample replaces it and the n-th moves the estimate 1/n of
    the way (a plain mean of the samples so far) until that falls below `weight`, which then holds. So a burst that
    starts from a wrong prior (0.1 s a message where a message takes 1 s) is sized on its first results, not three
    or four ticks later, and later samples still only nudge a settled estimate.
    """

    value: float
    weight: float = 0.3
    samples: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.value <= 0:
            raise ValueError(f"an estimate needs a positive prior, got {self.value}")
        if not 0 < self.weight <= 1:
            raise ValueError(f"the smoothing weight must be in (0, 1], got {self.weight}")

    def add(self, sample: float) -> None:
        if sample > 0:  # a zero or negative duration is a clock artefact, not a measurement
            self.samples += 1
            self.value += max(self.weight, 1 / self.samples) * (sample - self.value)


@dataclass
class ArrivalRate:
    """Messages per second, from the count that arrived between observations.

    Two readings, the larger wins:
    - the median rate over the last `window` seconds, time not yet observed counted as quiet: a steady load,
      unmoved by one burst;
    - the lowest rate of the latest intervals covering `hold` seconds: a rise that has held that long is a new load
      (a spike); a burst, however many observations it straddles, is shorter, and the backlog already shows it.
    """

    window: float = 60.0
    hold: float = 10.0
    _intervals: deque[tuple[float, float, float]] = field(default_factory=deque, init=False)  # (end, seconds, rate)
    _last: float | None = field(default=None, init=False)
    _uncounted: int = field(default=0, init=False)

    def add(self, now: float, arrived: int) -> None:
        """`arrived`: messages since the previous call. The first call only starts the clock: what it reports
        arrived over a span nobody saw, and the backlog shows it anyway."""
        if self._last is None:
            self._last = now
            return
        self._uncounted += arrived
        seconds = now - self._last
        if seconds <= 0:
            return  # two observations at one instant: the count joins the next interval
        self._intervals.append((now, seconds, self._uncounted / seconds))
        self._last, self._uncounted = now, 0
        start = now - self.window
        while self._intervals and self._intervals[0][0] <= start:
            self._intervals.popleft()
        if self._intervals and self._intervals[0][0] - self._intervals[0][1] < start:
            end, _, rate = self._intervals[0]  # straddles the window's start: only its part inside counts
            self._intervals[0] = (end, end - start, rate)

    @property
    def per_second(self) -> float:
        if not self._intervals:
            return 0.0
        return max(self._median(), self._held())

    def _held(self) -> float:
        lowest, covered = math.inf, 0.0
        for _, span, rate in reversed(self._intervals):
            lowest, covered = min(lowest, rate), covered + span
            if covered >= self.hold:
                return lowest
        return 0.0  # not observed for that long yet

    def _median(self) -> float:
        """The rate at which half the window's seconds ran slower, half faster (quiet time counts as rate 0)."""
        covered = sum(span for _, span, _ in self._intervals)
        spans = sorted(((rate, span) for _, span, rate in self._intervals), key=lambda pair: pair[0])
        unseen = max(0.0, self.window - covered)
        half, seen = self.window / 2, unseen
        if seen >= half:
            return 0.0
        for rate, span in spans:
            seen += span
            if seen >= half:
                return rate
        return spans[-1][0]
