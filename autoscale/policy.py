"""How many workers the backlog needs: arithmetic on numbers, no boto3, no ORM, no clock of its own.

The backlog is what SQS reports as waiting plus in flight (ApproximateNumberOfMessages + …NotVisible), as KEDA's
`scaleOnInFlight` and SageMaker's backlog metric count it: a message a worker is busy with still needs that worker.
Capacity is running plus pending workers, so a slow boot never triggers a second launch for the same backlog.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Observation:
    visible: int
    in_flight: int
    running: int
    pending: int

    @property
    def backlog(self) -> int:
        return self.visible + self.in_flight

    @property
    def capacity(self) -> int:
        return self.running + self.pending


class Policy(Protocol):
    name: str
    minimum: int
    maximum: int

    def desired(self, observation: Observation, now: float) -> int:
        """Workers wanted now; `now` is seconds on the caller's clock (real or simulated)."""
        ...


def clamp(value: int, minimum: int, maximum: int) -> int:
    return max(minimum, min(maximum, value))


def check_bounds(minimum: int, maximum: int) -> None:
    if minimum < 0 or maximum < minimum:
        raise ValueError(f"need 0 <= min <= max, got min={minimum} max={maximum}")


@dataclass
class StepPolicy:
    """The course seed's rule: 0 messages → min; 1-9 → 1; from 10, one more worker per 5 more messages."""

    minimum: int = 0
    maximum: int = 19
    name: str = "step"

    def __post_init__(self) -> None:
        check_bounds(self.minimum, self.maximum)

    def desired(self, observation: Observation, now: float) -> int:
        backlog = observation.backlog
        if backlog == 0:
            wanted = 0
        elif backlog < 10:
            wanted = 1
        else:
            wanted = 2 + (backlog - 10) // 5
        return clamp(wanted, self.minimum, self.maximum)


@dataclass
class TargetPolicy:
    """Backlog per worker (AWS's recommended SQS policy, KEDA's `queueLength`).

    desired = ceil(backlog / target), with
    - activation: from zero workers, start only once the backlog exceeds `activation` (KEDA's activationQueueLength);
    - a scale-out rate limit: at most max(`min_step`, `step_factor` x running) new workers per decision, as Ray's
      `upscaling_speed`, so one noisy reading cannot launch the whole fleet;
    - scale-in stabilisation: capacity is released only to the highest recommendation of the last
      `scale_in_window` seconds (Kubernetes' HPA does the same), so a dip between bursts keeps the workers.
    """

    minimum: int = 0
    maximum: int = 19
    target: int = 5
    activation: int = 0
    min_step: int = 5
    step_factor: float = 1.0
    scale_in_window: float = 60.0
    name: str = "target"
    _recent: deque[tuple[float, int]] = field(default_factory=deque, init=False, repr=False)

    def __post_init__(self) -> None:
        check_bounds(self.minimum, self.maximum)
        if self.target < 1:
            raise ValueError("target backlog per worker must be at least 1")

    def desired(self, observation: Observation, now: float) -> int:
        capacity = observation.capacity
        backlog = observation.backlog
        wanted = 0 if capacity == 0 and backlog <= self.activation else math.ceil(backlog / self.target)
        wanted = clamp(wanted, self.minimum, self.maximum)
        if wanted > capacity:
            step = max(self.min_step, math.ceil(self.step_factor * observation.running))
            wanted = min(wanted, capacity + step)
        self._recent.append((now, wanted))
        while self._recent and self._recent[0][0] < now - self.scale_in_window:
            self._recent.popleft()
        if wanted < capacity:
            highest_recently = max(recommendation for _, recommendation in self._recent)
            wanted = min(capacity, max(wanted, highest_recently))
        return wanted


def make_policy(name: str, minimum: int, maximum: int, *, target: int = 5, scale_in_window: float = 60.0) -> Policy:
    if name == "step":
        return StepPolicy(minimum, maximum)
    if name == "target":
        return TargetPolicy(minimum, maximum, target=target, scale_in_window=scale_in_window)
    raise ValueError(f"unknown policy {name!r}: use step or target")
