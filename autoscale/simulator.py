"""The controller on a virtual clock: a fake fleet, a queue of arrivals, workers that serve and retire.

The queue is kept as batches of (arrival time, count), workers serve `dt / service_time` images per step each, and
idle workers retire after `idle_seconds` as real ones do; so a day at 1,000 images/s with a cap of 1,000 workers
simulates in seconds. The controller, policies and provider protocol are the production ones.

The fleet is bought as a capacity mix: on-demand or spot instances, and optionally a warm pool of stopped instances
that start in `warm_boot_seconds` (providers/fake.py has its rules). Spot instances are interrupted at a rate per
instance-hour, at random but the same for a seed: the worker leaves at once on the notice (the watcher hands its
messages back), the image it was on is served again from the start, and the policy replaces the capacity as it sees
fit. What the fleet costs is billed by autoscale/prices.py.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from autoscale.controller import Controller, seconds_to_next_tick
from autoscale.policy import FixedFleet, Policy
from autoscale.prices import Bill, Market, Prices
from autoscale.providers.base import Instance, InstanceState
from autoscale.providers.fake import FakeProvider
from autoscale.traces import Trace
from common.percentiles import percentiles


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Capacity:
    """What the fleet is bought as: on-demand or spot instances, and a warm pool of stopped ones started first."""

    market: Market = Market.ON_DEMAND
    warm_pool: int = 0

    @property
    def name(self) -> str:
        return f"{self.market}" + (f"+warm-pool-{self.warm_pool}" if self.warm_pool else "")


ON_DEMAND = Capacity()


@dataclass
class Report:
    policy: str
    served: int
    instance_seconds: float  # in service (booting or running); a warm pool's own time is in `dollars` only
    wait_p50: float
    wait_p95: float
    wait_max: float
    peak_workers: int
    launches: int
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # (t, queue depth, workers)
    capacity: str = ON_DEMAND.name
    dollars: float = 0.0
    interruptions: int = 0
    warm_starts: int = 0

    def line(self) -> str:
        return (f"{self.policy:>7}: served {self.served}, instance-seconds {self.instance_seconds:,.0f}, "
                f"${self.dollars:.4f}, "
                f"queue wait p50 {self.wait_p50:.1f} s / p95 {self.wait_p95:.1f} s / max {self.wait_max:.1f} s, "
                f"peak workers {self.peak_workers}, launches {self.launches} ({self.warm_starts} warm), "
                f"interruptions {self.interruptions}")  # fmt: skip

    def summary(self) -> dict[str, float | int | str]:
        return {"policy": self.policy, "capacity": self.capacity, "served": self.served,
                "instance_seconds": round(self.instance_seconds, 1), "dollars": round(self.dollars, 8),
                "p50_wait_s": round(self.wait_p50, 2), "p95_wait_s": round(self.wait_p95, 2),
                "max_wait_s": round(self.wait_max, 2), "peak_workers": self.peak_workers, "launches": self.launches,
                "warm_starts": self.warm_starts, "interruptions": self.interruptions}  # fmt: skip


@dataclass
class Interruptions:
    """Spot reclaims as a Poisson process in instance-hours: with n spot instances up for dt seconds, n dt / 3600
    instance-hours pass, and an interruption comes each time their total crosses the next exponential draw; its
    victim is one of the instances up, at random. Its own generator, so every capacity mix sees the same arrivals."""

    per_instance_hour: float
    rng: np.random.Generator
    exposure: float = 0.0  # instance-hours so far
    _next: float = field(default=math.inf, init=False)

    def __post_init__(self) -> None:
        if self.per_instance_hour < 0:
            raise ValueError(f"an interruption rate cannot be negative, got {self.per_instance_hour:g}")
        self._next = self._draw()

    def _draw(self) -> float:
        return self.exposure + self.rng.exponential(1 / self.per_instance_hour) if self.per_instance_hour else math.inf

    def victims(self, instances: list[Instance], dt: float) -> list[Instance]:
        self.exposure += len(instances) * dt / 3600
        found: list[Instance] = []
        while instances and self.exposure >= self._next:
            left = [i for i in instances if i not in found]
            if left:
                found.append(left[int(self.rng.integers(len(left)))])
            self._next = self._draw()
        return found


@dataclass
class Sessions:
    """When each instance in service started, to bill each of its runs whole (a minimum applies per run)."""

    bill: Bill
    market: Market
    started: dict[str, float] = field(default_factory=dict)

    def seen(self, instances: list[Instance], now: float) -> None:
        present = {instance.id for instance in instances}
        for instance_id in present - self.started.keys():
            self.started[instance_id] = now
        for instance_id in self.started.keys() - present:
            self.bill.run(self.market, now - self.started.pop(instance_id))

    def close(self, now: float) -> None:
        self.seen([], now)


def simulate(
    policy: Policy,
    trace: Trace,
    *,
    service_time: float,
    boot_seconds: float,
    idle_seconds: float = 20.0,
    interval: float = 5.0,
    idle_interval: float = 1.0,
    dt: float = 0.5,
    seed: int = 1,
    max_seconds: float | None = None,
    capacity: Capacity = ON_DEMAND,
    warm_boot_seconds: float = 10.0,
    interruptions_per_hour: float = 0.0,
    prices: Prices | None = None,
) -> Report:
    """`service_time`: one worker's seconds per image wherever the trace gives none. `interruptions_per_hour`: spot
    interruptions per instance-hour (none on on-demand capacity)."""
    clock = Clock()
    provider = FakeProvider(clock, boot_seconds=boot_seconds, warm_pool=capacity.warm_pool,
                            warm_boot_seconds=warm_boot_seconds)  # fmt: skip
    bill = Bill(prices or Prices())
    sessions = Sessions(bill, capacity.market)
    spot_rate = interruptions_per_hour if capacity.market == Market.SPOT else 0.0
    reclaims = Interruptions(spot_rate, np.random.default_rng((seed, 1)))
    interrupted = 0
    queue: deque[list[float]] = deque()  # [arrival time, count, seconds per image]
    in_flight = 0
    queued = 0
    # What the simulated workers report between ticks, as recorded results would: arrivals, and the work served.
    since_tick = {"arrived": 0, "served": 0, "work": 0.0}

    def demand() -> tuple[int, float | None]:
        arrived, served, work = since_tick["arrived"], since_tick["served"], since_tick["work"]
        since_tick.update(arrived=0, served=0, work=0.0)
        return int(arrived), (work / served if served else None)

    controller = Controller(policy, provider, lambda: (max(0, queued - in_flight), in_flight), clock, demand=demand)
    rng = np.random.default_rng(seed)
    last_busy: dict[str, float] = {}
    waits: list[float] = []
    wait_counts: list[int] = []
    credit = 0.0  # worker-seconds available to the queue's head
    instance_seconds = 0.0
    peak = 0
    timeline: list[tuple[float, int, int]] = []
    next_tick = 0.0
    limit = max_seconds if max_seconds is not None else trace.duration + 3600
    while clock.now < limit:
        arrived = trace.arrivals(clock.now, dt, rng) if clock.now < trace.duration else 0
        if arrived:
            timed_work, timed = trace.service(clock.now, dt) if trace.service else (0.0, 0)
            per_image = (timed_work + (arrived - timed) * service_time) / arrived
            queue.append([clock.now, arrived, per_image])
            queued += arrived
            since_tick["arrived"] += arrived
        if clock.now >= next_tick:
            next_tick += seconds_to_next_tick(controller.tick(), interval, idle_interval)
        instances = provider.instances()
        victims = reclaims.victims(instances, dt)
        if victims:
            running_before = sum(1 for i in instances if i.state == InstanceState.RUNNING)
            lost = sum(1 for i in victims if i.state == InstanceState.RUNNING)
            # The image a reclaimed worker was on goes back to the queue: its share of the work in progress is lost.
            credit -= credit * lost / running_before if running_before else 0.0
            for victim in victims:
                provider.kill(victim.id)
                last_busy.pop(victim.id, None)
            interrupted += len(victims)
            instances = provider.instances()
        sessions.seen(instances, clock.now)
        stopped, initialising = provider.pool()
        bill.stopped(stopped * dt)
        bill.initialising(capacity.market, initialising * dt)
        running = [i for i in instances if i.state == InstanceState.RUNNING]
        # Serve: each running worker has dt seconds of work this step, spent on the queue in order (what is left of
        # an image carries over to the next step; an empty queue wastes it).
        credit += len(running) * dt
        served = 0
        work = 0.0
        while queue and credit >= queue[0][2]:
            batch = queue[0]
            taken = min(int(batch[1]), int(credit // batch[2]))
            waits.append(clock.now - batch[0])
            wait_counts.append(taken)
            credit -= taken * batch[2]
            work += taken * batch[2]
            served += taken
            batch[1] -= taken
            if not batch[1]:
                queue.popleft()
        if not queue:
            credit = 0.0
        since_tick["served"] += served
        since_tick["work"] += work
        busy = min(len(running), math.ceil(work / dt)) if served else 0
        queued -= served
        in_flight = min(len(running), queued)
        # The longest-idle workers stay idle; the rest worked this step. Idle ones past the limit retire.
        for instance in running:
            last_busy.setdefault(instance.id, clock.now)
        by_recent = sorted(running, key=lambda i: last_busy[i.id], reverse=True)
        for instance in by_recent[: max(busy, in_flight)]:
            last_busy[instance.id] = clock.now
        for instance in by_recent[max(busy, in_flight) :]:
            if instance.retires and clock.now - last_busy[instance.id] >= idle_seconds:
                provider.retire(instance.id)
                del last_busy[instance.id]
        instance_seconds += len(instances) * dt
        peak = max(peak, len(instances))
        if not timeline or clock.now - timeline[-1][0] >= max(dt, limit / 2000):
            timeline.append((clock.now, queued, len(instances)))
        clock.now += dt
        if clock.now >= trace.duration and not queued and not provider.instances():
            break
    timeline.append((clock.now, queued, len(provider.instances())))
    sessions.close(clock.now)
    # Each batch served in a step waited the same time: weighted by its count, not repeated.
    wait_p50, wait_p95, wait_max = percentiles(waits, [50, 95, 100], wait_counts) if waits else (0.0, 0.0, 0.0)
    return Report(
        policy=policy.name,
        served=sum(wait_counts),
        instance_seconds=instance_seconds,
        wait_p50=wait_p50,
        wait_p95=wait_p95,
        wait_max=wait_max,
        peak_workers=peak,
        launches=provider.launches,
        timeline=timeline,
        capacity=capacity.name,
        dollars=bill.dollars,
        interruptions=interrupted,
        warm_starts=provider.warm_starts,
    )


@dataclass(frozen=True)
class Hindsight:
    """The cheapest fixed fleet (k workers launched at once whenever work is queued) that reached a wait."""

    report: Report | None  # None: no fleet up to the cap reached it

    def ratio(self, report: Report) -> float | None:
        if self.report is None or not self.report.instance_seconds:
            return None
        return report.instance_seconds / self.report.instance_seconds


def cheapest_fixed_fleet(
    trace: Trace, p95: float, maximum: int, runs: dict[int, Report], *, tolerance: float = 0.5, **timing: float
) -> Hindsight:
    """The smallest k in 1..maximum whose fixed fleet keeps the p95 wait within `p95` (+ `tolerance`, one step of
    the simulator's clock). More workers never wait longer, so a binary search finds it; `runs` caches the
    simulations by k, shared across the policies judged on one trace."""

    def run(k: int) -> Report:
        if k not in runs:
            runs[k] = simulate(FixedFleet(k), trace, **timing)  # type: ignore[arg-type]
        return runs[k]

    low, high = 1, maximum
    if maximum < 1 or run(high).wait_p95 > p95 + tolerance:
        return Hindsight(None)
    while low < high:
        middle = (low + high) // 2
        if run(middle).wait_p95 <= p95 + tolerance:
            high = middle
        else:
            low = middle + 1
    return Hindsight(run(low))
