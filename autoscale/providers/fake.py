"""An in-memory provider for unit tests and the simulator, with a boot delay and failure switches."""

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
    name: str = "fake"
    _instances: dict[str, Instance] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    launches: int = 0

    def instances(self) -> list[Instance]:
        now = self.clock()
        found = []
        for i in self._instances.values():
            booted = now - i.launched_at >= self.boot_seconds
            state = InstanceState.RUNNING if booted else InstanceState.PENDING
            ready_at = i.launched_at + self.boot_seconds if booted else None
            found.append(Instance(i.id, state, i.launched_at, i.retires, ready_at))
        return found

    def launch(self, count: int, *, retires: bool) -> list[Instance]:
        if self.fail_launches:
            raise LaunchError("launch refused (fake provider switch)")
        started = min(count, self.launch_limit) if self.launch_limit is not None else count
        launched = []
        for _ in range(started):
            instance = Instance(f"fake-{next(self._ids)}", InstanceState.PENDING, self.clock(), retires)
            self._instances[instance.id] = instance
            launched.append(instance)
        self.launches += len(launched)
        if started < count:
            raise LaunchError(f"only {started} of {count} launched", launched)
        return launched

    def terminate(self, ids: list[str]) -> None:
        for instance_id in ids:
            self._instances.pop(instance_id, None)

    def kill(self, instance_id: str) -> None:
        """A worker dies on its own (crash, spot reclaim, idle retirement)."""
        self._instances.pop(instance_id, None)
