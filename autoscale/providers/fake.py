"""An in-memory provider for unit tests and the simulator, with boot delays, a warm pool and failure switches.

The warm pool behaves as an Auto Scaling group's with a prepared capacity of `warm_pool` (MaxGroupPreparedCapacity,
instance reuse on scale-in): it holds `warm_pool` minus the workers in service, stopped. Launches start its stopped
instances first, which take `warm_boot_seconds` instead of `boot_seconds`, and are not replaced while they serve;
scale-in returns instances to the pool up to that size and terminates the rest; an instance lost for good (a spot
reclaim) leaves a gap that the pool fills with a new instance, booted cold (billed as running) and then stopped. The
pool starts full, as one initialised before the simulated time would be.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from autoscale.providers.base import Instance, InstanceState, LaunchError


@dataclass
class FakeProvider:
    clock: Callable[[], float]
    boot_seconds: float = 0.0
    fail_launches: bool = False  # every launch raises
    launch_limit: int | None = None  # at most this many start per call (a partial launch), then LaunchError
    warm_pool: int = 0  # instances prepared between the pool (stopped, initialised) and the workers in service
    warm_boot_seconds: float = 0.0
    name: str = "fake"
    _instances: dict[str, Instance] = field(default_factory=dict)
    _ready_at: dict[str, float] = field(default_factory=dict)
    _pool: list[float] = field(default_factory=list)  # when each pool instance is (or was) initialised
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    launches: int = 0
    warm_starts: int = 0
    pool_launches: int = 0  # instances launched into the pool (each boots cold, then stops)

    def __post_init__(self) -> None:
        if self.warm_pool < 0:
            raise ValueError(f"a warm pool cannot be negative, got {self.warm_pool}")
        self._pool = [self.clock()] * self.warm_pool

    def instances(self) -> list[Instance]:
        now = self.clock()
        found = []
        for i in self._instances.values():
            ready_at = self._ready_at[i.id]
            booted = now >= ready_at
            state = InstanceState.RUNNING if booted else InstanceState.PENDING
            found.append(Instance(i.id, state, i.launched_at, i.retires, ready_at if booted else None, i.warm))
        return found

    def warm_ready(self) -> int:
        now = self.clock()
        return sum(1 for ready in self._pool if ready <= now)

    def pool(self) -> tuple[int, int]:
        """(stopped and ready, still initialising): what the pool holds now, for its bill."""
        ready = self.warm_ready()
        return ready, len(self._pool) - ready

    def launch(self, count: int, *, retires: bool) -> list[Instance]:
        if self.fail_launches:
            raise LaunchError("launch refused (fake provider switch)")
        started = min(count, self.launch_limit) if self.launch_limit is not None else count
        now = self.clock()
        self._pool.sort()
        warm = min(started, self.warm_ready())
        self._pool[:warm] = []
        launched = []
        for n in range(started):
            instance = Instance(f"fake-{next(self._ids)}", InstanceState.PENDING, now, retires, warm=n < warm)
            self._instances[instance.id] = instance
            self._ready_at[instance.id] = now + (self.warm_boot_seconds if instance.warm else self.boot_seconds)
            launched.append(instance)
        self.launches += len(launched)
        self.warm_starts += warm
        if started < count:
            raise LaunchError(f"only {started} of {count} launched", launched)
        return launched

    def terminate(self, ids: list[str]) -> None:
        """The autoscaler's scale-in (of launches that have not booted): back to the warm pool where it has room."""
        for instance_id in ids:
            self.retire(instance_id)

    def retire(self, instance_id: str) -> None:
        """A worker leaves when idle: scale-in, so its instance returns to the warm pool while the pool has room (one
        still booting returns when its boot would have ended), and is terminated otherwise."""
        if self._instances.pop(instance_id, None) is None:
            return
        ready_at = self._ready_at.pop(instance_id)
        if len(self._pool) < self._pool_size():
            self._pool.append(max(self.clock(), ready_at))

    def kill(self, instance_id: str) -> None:
        """A worker dies on its own (crash, spot reclaim): its instance is gone, and the pool launches one to fill
        the gap it leaves."""
        if self._instances.pop(instance_id, None) is None:
            return
        del self._ready_at[instance_id]
        missing = self._pool_size() - len(self._pool)
        if missing > 0:
            self._pool += [self.clock() + self.boot_seconds] * missing
            self.pool_launches += missing

    def _pool_size(self) -> int:
        return max(0, self.warm_pool - len(self._instances))
