"""One control-loop step: observe the queue and the fleet, ask the policy, launch or release, report.

The same controller runs live, once (`--once`), dry (`--dry-run`) and in the simulator: the clock, the queue reader
and the provider are passed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from autoscale.policy import Belief, Observation, Policy
from autoscale.providers.base import Instance, InstanceState, LaunchError, Provider, WarmPool

logger = logging.getLogger(__name__)

QueueDepth = Callable[[], tuple[int, int]]  # (visible, in flight)
# (messages accepted since the previous call, one worker's recent seconds per message or None): what the latency
# policy learns the load from. Live it reads the recorded requests; in the simulator, the simulated workers.
Demand = Callable[[], tuple[int, float | None]]


@dataclass(frozen=True)
class Decision:
    at: float
    observation: Observation
    desired: int
    action: str  # launch | terminate | retire | hold | error
    instance_ids: list[str] = field(default_factory=list)
    error: str = ""
    dry_run: bool = False
    belief: Belief | None = None

    @property
    def changes_fleet(self) -> bool:
        return self.action in ("launch", "terminate", "error")

    def line(self) -> str:
        o = self.observation
        ids = ",".join(self.instance_ids) or "-"
        text = (f"visible={o.visible} in_flight={o.in_flight} running={o.running} pending={o.pending} "
                f"desired={self.desired} action={self.action} instances={ids}")  # fmt: skip
        if self.error:
            text += f" error={self.error!r}"
        if self.belief is not None:
            b = self.belief
            warm = f" warm boot={b.warm_boot_seconds:g}s" if b.warm_boot_seconds is not None else ""
            text += (f" service={b.service_seconds:g}s boot={b.boot_seconds:g}s{warm} arrivals={b.arrival_rate:g}/s"
                     f" ({b.reason})")  # fmt: skip
        return text + (" (dry run)" if self.dry_run else "")


def seconds_to_next_tick(decision: Decision, interval: float, idle_interval: float) -> float:
    """A fleet at zero with nothing queued looks again after `idle_interval`, not a whole tick later: the first upload
    after a quiet spell should not wait up to an interval before its worker is launched (a queue read a second costs
    next to nothing). Any other state ticks at the interval."""
    observation = decision.observation
    if observation.backlog == 0 and observation.capacity == 0:
        return min(interval, idle_interval)
    return interval


class Controller:
    def __init__(
        self,
        policy: Policy,
        provider: Provider,
        queue_depth: QueueDepth,
        clock: Callable[[], float],
        *,
        demand: Demand | None = None,
        dry_run: bool = False,
    ) -> None:
        self.policy = policy
        self.provider = provider
        self.queue_depth = queue_depth
        self.clock = clock
        self.demand = demand
        self.dry_run = dry_run
        self._booting: dict[str, float] = {}  # instance id -> launched at, for those last seen pending

    def tick(self) -> Decision:
        now = self.clock()
        visible, in_flight = self.queue_depth()
        # Read before the fleet: an observation that cannot be made raises here, and nothing is decided on it.
        arrived, service_seconds = self.demand() if self.demand is not None else (None, None)
        instances = self.provider.instances()
        running = sum(1 for instance in instances if instance.state == InstanceState.RUNNING)
        cold, warm = self._boots_seen(instances, now)
        warm_ready = self.provider.warm_ready() if isinstance(self.provider, WarmPool) else 0
        observation = Observation(visible, in_flight, running, len(instances) - running, arrived, service_seconds,
                                  cold, warm, warm_ready)  # fmt: skip
        desired = self.policy.desired(observation, now)
        decision = self._act(now, observation, desired, instances)
        if decision.action in ("launch", "error") and not decision.dry_run:
            self._booting.update(dict.fromkeys(decision.instance_ids, now))  # their boot is timed from here
        return replace(decision, belief=self.policy.belief())

    def _boots_seen(self, instances: list[Instance], now: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Launch-to-running seconds of each worker seen pending before and running now: the provider's boot time,
        measured (to the tick, where the provider does not say when the worker became ready). Cold launches and warm
        starts apart: a warm pool's start takes seconds where a launch takes a minute."""
        booted: dict[bool, list[float]] = {False: [], True: []}
        for instance in instances:
            if instance.state == InstanceState.PENDING:
                self._booting[instance.id] = instance.launched_at
            elif instance.id in self._booting:
                ready_at = instance.ready_at if instance.ready_at is not None else now
                booted[instance.warm].append(max(0.0, ready_at - self._booting.pop(instance.id)))
        present = {instance.id for instance in instances}
        for gone in [instance_id for instance_id in self._booting if instance_id not in present]:
            del self._booting[gone]  # terminated before it came up: no measurement
        return tuple(booted[False]), tuple(booted[True])

    def _act(self, now: float, observation: Observation, desired: int, instances: list[Instance]) -> Decision:
        capacity = observation.capacity
        if desired > capacity:
            holders = sum(1 for instance in instances if not instance.retires)
            return self._launch(now, observation, desired, desired - capacity, max(0, self.policy.minimum - holders))
        if desired < capacity:
            # Never kill a busy worker: only launches that have not booted can go. Running workers retire
            # themselves once idle (autoscale/retire.py), so a lower desired count is otherwise just awaited.
            booting = sorted(
                (instance for instance in instances if instance.state == InstanceState.PENDING and instance.retires),
                key=lambda instance: instance.launched_at,
                reverse=True,
            )
            surplus = [instance.id for instance in booting[: capacity - desired]]
            if not surplus:
                return Decision(now, observation, desired, "retire", dry_run=self.dry_run)
            if not self.dry_run:
                self.provider.terminate(surplus)
            return Decision(now, observation, desired, "terminate", surplus, dry_run=self.dry_run)
        return Decision(now, observation, desired, "hold", dry_run=self.dry_run)

    def _launch(self, now: float, observation: Observation, desired: int, count: int, holders_missing: int) -> Decision:
        if self.dry_run:
            return Decision(now, observation, desired, "launch", dry_run=True)
        # Workers that hold the minimum never retire; the rest of a burst retire when idle.
        holding = min(count, holders_missing)
        launched: list[str] = []
        try:
            for retires, batch in ((False, holding), (True, count - holding)):
                if batch:
                    launched += [instance.id for instance in self.provider.launch(batch, retires=retires)]
        except LaunchError as exc:
            launched += [instance.id for instance in exc.launched]
            logger.warning("launch failed after %d of %d: %s", len(launched), count, exc)
            return Decision(now, observation, desired, "error", launched, error=str(exc))
        return Decision(now, observation, desired, "launch", launched)
