"""The provider protocol, after Ray's cloud instance provider: list what is not terminated, launch n, terminate ids."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class InstanceState(enum.StrEnum):
    PENDING = "pending"  # launched, not yet taking work
    RUNNING = "running"


@dataclass(frozen=True)
class Instance:
    id: str
    state: InstanceState
    launched_at: float  # seconds since the epoch
    retires: bool = True  # False for workers launched to hold the minimum: they never retire themselves
    ready_at: float | None = None  # when it started taking work, where the provider knows (seconds since the epoch)
    warm: bool = False  # started from a warm pool's stopped instances rather than launched and booted from scratch


class LaunchError(RuntimeError):
    """A launch failed. `launched` holds whatever did start (a partial launch)."""

    def __init__(self, message: str, launched: list[Instance] | None = None) -> None:
        super().__init__(message)
        self.launched = launched or []


class Provider(Protocol):
    name: str

    def instances(self) -> list[Instance]:
        """Our workers that are pending or running (never anything we did not launch)."""
        ...

    def launch(self, count: int, *, retires: bool) -> list[Instance]:
        """Start `count` workers; raises LaunchError (with any partial result) when not all started."""
        ...

    def terminate(self, ids: list[str]) -> None: ...


@runtime_checkable
class WarmPool(Protocol):
    """A provider that keeps initialised instances stopped (an Auto Scaling warm pool) and starts those first."""

    def warm_ready(self) -> int:
        """Stopped instances ready to start now: the next launches up to this many take a warm start."""
        ...
