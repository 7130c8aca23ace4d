"""How many workers the backlog needs: arithmetic on numbers, no boto3, no ORM, no clock of its own.

The backlog is what SQS reports as waiting plus in flight (ApproximateNumberOfMessages + …NotVisible), as KEDA's
`scaleOnInFlight` and SageMaker's backlog metric count it: a message a worker is busy with still needs that worker.
Capacity is running plus pending workers, so a slow boot never triggers a second launch for the same backlog.

Three policies: the course seed's `step` table, `target` (backlog per worker, AWS's recommended SQS rule) and
`latency`, which counts work instead of messages (service and boot times, the arrival rate) and asks for the
smallest fleet that meets a queue-wait target. `FixedFleet` is the simulator's hindsight yardstick.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from autoscale.estimates import ArrivalRate, Smoothed


@dataclass(frozen=True)
class Observation:
    visible: int
    in_flight: int
    running: int
    pending: int
    # What only the latency policy reads (None or empty where the caller did not observe it):
    arrived: int | None = None  # messages accepted since the previous observation
    service_seconds: float | None = None  # one worker's recent seconds per message
    booted: tuple[float, ...] = ()  # launch-to-running seconds of the workers that came up since the last one
    warm_booted: tuple[float, ...] = ()  # the same, of those started from a warm pool
    warm_ready: int = 0  # a warm pool's stopped instances ready to start: the next launches up to this many are warm

    @property
    def backlog(self) -> int:
        return self.visible + self.in_flight

    @property
    def capacity(self) -> int:
        return self.running + self.pending


@dataclass(frozen=True)
class Belief:
    """What the latency policy believes at a decision, for the status page and the autoscaler's log."""

    service_seconds: float
    boot_seconds: float
    arrival_rate: float
    desired: int
    reason: str
    warm_boot_seconds: float | None = None  # where the fleet has a warm pool


class Policy(Protocol):
    name: str
    minimum: int
    maximum: int

    def desired(self, observation: Observation, now: float) -> int:
        """Workers wanted now; `now` is seconds on the caller's clock (real or simulated)."""
        ...

    def belief(self) -> Belief | None:
        """The estimates behind the latest decision; None for the policies that estimate nothing."""
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

    def belief(self) -> Belief | None:
        return None


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

    def belief(self) -> Belief | None:
        return None


# A fleet sized for the arrival rate alone would run at this utilisation at most: at 100% a queue never drains.
MAX_UTILISATION = 0.9


@dataclass
class LatencyPolicy:
    """The smallest fleet that keeps the p95 queue wait near `target_wait` seconds, counting work, not messages.

    With s seconds per message per worker, an arrival rate of λ per second and a backlog of N, a fleet of n drains
    the backlog within the target when n/s - λ >= N/T, so n = ceil(s (λ + N/T)). A launch helps only after its boot
    (B seconds), so when the fleet there is falls short, it is sized for the backlog as it will stand once the new
    workers are up: N + λB minus what the running workers (and, half-way on average, the booting ones) clear in
    the meantime. When the workers there clear the backlog before a new one could boot, nothing is launched. From
    zero workers the boot cannot be avoided: the target then counts from the end of the boot.

    With a warm pool, launches start its stopped instances first, which boot in Bw seconds (learned apart from
    cold launches): the fleet is sized with Bw while the pool has enough, and otherwise the pool's instances start
    and cold launches are sized for the backlog left after B, counting what the warm ones clear in between.

    Scale-in follows the ski-rental rule: the recommendation falls only once it has stayed lower for a whole boot
    time, because an idle worker kept for B seconds costs what a relaunch would (B is the cold launch's even with a
    warm pool: the pool's size bounds what a relaunch could start warm). (Running workers still retire
    themselves when idle, WORKER_IDLE_SECONDS; the policy never kills one.) No work queued, no launch: an expected
    arrival alone never starts a worker that would wait for it.
    """

    minimum: int = 0
    maximum: int = 19
    target_wait: float = 30.0
    service_prior: float = 0.1  # seconds per message per worker until results say otherwise
    boot_prior: float = 60.0  # launch to first message, until a launch is measured
    warm_boot_prior: float = 10.0  # a warm pool's start to first message, until one is measured
    arrival_window: float = 60.0
    arrival_hold: float = 10.0  # a rise in arrivals held this long is a load to size for, not a burst
    name: str = "latency"
    service: Smoothed = field(init=False)
    boot: Smoothed = field(init=False)
    warm_boot: Smoothed = field(init=False)
    arrivals: ArrivalRate = field(init=False)
    _recent: deque[tuple[float, int]] = field(default_factory=deque, init=False, repr=False)
    _belief: Belief | None = field(default=None, init=False)
    _warm_pool_seen: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        check_bounds(self.minimum, self.maximum)
        if self.target_wait <= 0:
            raise ValueError(f"the target wait must be positive, got {self.target_wait:g} s")
        if min(self.service_prior, self.boot_prior, self.warm_boot_prior) <= 0:
            raise ValueError("the service and boot time priors must be positive")
        self.service = Smoothed(self.service_prior)
        self.boot = Smoothed(self.boot_prior)
        self.warm_boot = Smoothed(self.warm_boot_prior)
        self.arrivals = ArrivalRate(self.arrival_window, self.arrival_hold)

    def desired(self, observation: Observation, now: float) -> int:
        self._learn(observation, now)
        s, boot, rate = self.service.value, self.boot.value, self.arrivals.per_second
        wanted, reason = self._needed(observation, s, rate)
        wanted = clamp(wanted, self.minimum, self.maximum)
        capacity = observation.capacity
        self._recent.append((now, wanted))
        while self._recent and self._recent[0][0] < now - boot:
            self._recent.popleft()
        if wanted < capacity:
            held = min(capacity, max(recommendation for _, recommendation in self._recent))
            if held > wanted:
                reason += f"; keeping {held} until it has been needed less for a boot time ({boot:.0f} s)"
                wanted = held
        warm = round(self.warm_boot.value, 1) if self._warm_pool_seen else None
        self._belief = Belief(round(s, 4), round(boot, 1), round(rate, 3), wanted, reason, warm)
        return wanted

    def belief(self) -> Belief | None:
        return self._belief

    def _learn(self, observation: Observation, now: float) -> None:
        if observation.service_seconds is not None:
            self.service.add(observation.service_seconds)
        for seconds in observation.booted:
            self.boot.add(seconds)
        for seconds in observation.warm_booted:
            self.warm_boot.add(seconds)
        self._warm_pool_seen |= bool(observation.warm_ready or observation.warm_booted)
        if observation.arrived is not None:
            self.arrivals.add(now, observation.arrived)

    def _needed(self, observation: Observation, s: float, rate: float) -> tuple[int, str]:
        backlog, capacity, warm = observation.backlog, observation.capacity, observation.warm_ready
        if backlog == 0:
            return 0, "nothing queued"
        steady = math.ceil(s * rate / MAX_UTILISATION)
        now = max(steady, math.ceil(s * (rate + backlog / self.target_wait)))
        if now <= capacity:
            return now, f"{now} worker(s) drain {backlog} within {self.target_wait:g} s at {rate:.2f}/s arriving"
        # More are needed than there are; a launch helps only once booted. What stands then, first where the warm
        # pool's starts would be enough:
        if warm:
            boot = self.warm_boot.value
            then = self._left_after(observation, s, rate, boot)
            if then == 0 and steady <= capacity:
                return capacity, f"the {capacity} there clear {backlog} before a warm start could boot ({boot:.0f} s)"
            wanted = max(steady, capacity, math.ceil(s * (rate + then / self.target_wait)))
            if wanted - capacity <= warm:
                after = f"the {then:.0f} left after a {boot:.0f} s warm start"
                return wanted, f"{wanted} worker(s) drain {after} within {self.target_wait:g} s"
        # Cold launches too: the pool's instances start first and work from their warm boot on.
        boot = self.boot.value
        then = self._left_after(observation, s, rate, boot, warm_starts=warm)
        if then == 0 and steady <= capacity + warm:
            there = f"the {capacity} there" + (f" and {warm} warm start(s)" if warm else "")
            return capacity + warm, f"{there} clear {backlog} before a launch could boot ({boot:.0f} s)"
        wanted = max(steady, capacity + warm, math.ceil(s * (rate + then / self.target_wait)))
        after = f"the {then:.0f} left after a {boot:.0f} s boot"
        return wanted, f"{wanted} worker(s) drain {after} within {self.target_wait:g} s"

    def _left_after(self, observation: Observation, s: float, rate: float, boot: float, warm_starts: int = 0) -> float:
        """The backlog `boot` seconds from now: what arrives meanwhile, less what the running workers clear, the
        pending ones (half-way through their boot, on average) and `warm_starts` instances started from the pool now
        once their warm boot is over."""
        worked = observation.running * boot + observation.pending * boot / 2
        worked += warm_starts * max(0.0, boot - self.warm_boot.value)
        return max(0.0, observation.backlog + rate * boot - worked / s)


@dataclass
class FixedFleet:
    """`size` workers whenever anything is queued, launched at once, retiring when idle: the simulator's hindsight
    yardstick (the cheapest such fleet that reaches a policy's p95 wait is what that wait needed)."""

    size: int
    minimum: int = 0
    maximum: int = field(init=False)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        check_bounds(self.minimum, self.size)
        self.maximum, self.name = self.size, f"fixed-{self.size}"

    def desired(self, observation: Observation, now: float) -> int:
        return self.size if observation.backlog else 0

    def belief(self) -> Belief | None:
        return None


POLICIES = ("step", "target", "latency")


def make_policy(
    name: str,
    minimum: int,
    maximum: int,
    *,
    target: int = 5,
    scale_in_window: float = 60.0,
    target_wait: float = 30.0,
    service_prior: float = 0.1,
    boot_prior: float = 60.0,
    warm_boot_prior: float = 10.0,
) -> Policy:
    if name == "step":
        return StepPolicy(minimum, maximum)
    if name == "target":
        return TargetPolicy(minimum, maximum, target=target, scale_in_window=scale_in_window)
    if name == "latency":
        priors = {"service_prior": service_prior, "boot_prior": boot_prior, "warm_boot_prior": warm_boot_prior}
        return LatencyPolicy(minimum, maximum, target_wait=target_wait, **priors)
    raise ValueError(f"unknown policy {name!r}: use {', '.join(POLICIES)}")
