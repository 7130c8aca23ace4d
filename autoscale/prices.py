"""What the simulated fleet costs: EC2's billing rules applied to the instance time the simulator counts.

Prices are per hour and settable (`manage.py autoscale --simulate ... --on-demand-price --spot-price
--volume-price`); the defaults are a t3.medium-like worker (2 vCPU, 4 GiB) in us-east-1 and its 8 GiB gp3 root
volume. Linux instances are billed per second with a minimum of 60 seconds each time one starts (a start from a
warm pool's stopped state included); the root volume is billed for every second the instance exists, running or
stopped, which is all a stopped warm-pool instance costs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

ON_DEMAND_HOURLY = 0.0416  # t3.medium, Linux, us-east-1
SPOT_FRACTION = 0.3  # spot is typically 60-90 % below on-demand; 70 % below is the yardstick
VOLUME_GIB = 8.0
GIB_MONTH = 0.08  # gp3, $ per GiB-month
HOURS_PER_MONTH = 730.0  # how AWS turns a monthly storage price into an hourly one
VOLUME_HOURLY = VOLUME_GIB * GIB_MONTH / HOURS_PER_MONTH
MINIMUM_SECONDS = 60.0


class Market(enum.StrEnum):
    ON_DEMAND = "on-demand"
    SPOT = "spot"


@dataclass(frozen=True)
class Prices:
    on_demand: float = ON_DEMAND_HOURLY  # $ per running instance-hour
    spot: float = ON_DEMAND_HOURLY * SPOT_FRACTION
    volume: float = VOLUME_HOURLY  # $ per instance-hour of its root volume, running or stopped

    def __post_init__(self) -> None:
        if min(self.on_demand, self.spot, self.volume) < 0:
            raise ValueError("prices cannot be negative")

    def hourly(self, market: Market) -> float:
        return self.spot if market == Market.SPOT else self.on_demand


@dataclass
class Bill:
    """Instance time as it is billed: each run (start to stop or termination) at least a minute, at its market's
    price, plus the volume for every second running or stopped."""

    prices: Prices
    running: dict[Market, float] = field(default_factory=lambda: dict.fromkeys(Market, 0.0))  # billed seconds
    volume_seconds: float = 0.0

    def run(self, market: Market, seconds: float) -> None:
        """One run of one instance, from its start to its stop or termination."""
        self.running[market] += max(seconds, MINIMUM_SECONDS)
        self.volume_seconds += seconds

    def stopped(self, seconds: float) -> None:
        """Instance-seconds spent stopped (a warm pool's initialised instances)."""
        self.volume_seconds += seconds

    def initialising(self, market: Market, seconds: float) -> None:
        """Instance-seconds a warm pool's instances spend running before they stop, counted by the second: each such
        run is a cold boot, longer than the minimum wherever a warm pool is worth having."""
        self.running[market] += seconds
        self.volume_seconds += seconds

    @property
    def dollars(self) -> float:
        compute = sum(seconds * self.prices.hourly(market) for market, seconds in self.running.items())
        return (compute + self.volume_seconds * self.prices.volume) / 3600
