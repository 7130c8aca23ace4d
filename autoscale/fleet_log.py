"""What the autoscaler writes down each tick: a FleetSample for the status page's chart, pruned as it goes.

The adapter side of the controller (the policy never sees the database). A sample that cannot be written is skipped:
a gap in a chart is no reason to stop scaling the fleet. A database outage is logged once, and its end; the broken
connection is dropped so the next sample connects afresh.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, close_old_connections

from autoscale.controller import Decision
from autoscale.models import FleetSample
from common.outages import OutageLog

logger = logging.getLogger(__name__)

# A day of ticks: 17,280 rows at the default 5 s interval. The status page reads the last hour.
RETENTION = timedelta(hours=24)
# Deleting old rows every tick would be a write per tick for nothing; every few minutes keeps the table bounded.
PRUNE_EVERY = timedelta(minutes=10)


class FleetLog:
    """One per autoscaler run: writes a sample per decision, and prunes old ones now and then."""

    def __init__(
        self, provider: str, policy: str = "", retention: timedelta = RETENTION, prune_every: timedelta = PRUNE_EVERY
    ) -> None:
        self.provider = provider
        self.policy = policy
        self.retention = retention
        self.prune_every = prune_every
        self._next_prune: datetime | None = None  # None: prune on the first tick (old rows from earlier runs)
        self.outages = OutageLog(logger, "fleet sample")

    def record(self, decision: Decision) -> FleetSample | None:
        # The decision's own clock, not ours: the sample's time is when the queue and fleet were observed.
        at = datetime.fromtimestamp(decision.at, UTC)
        o = decision.observation
        belief = decision.belief
        estimates = (
            {"service_seconds": belief.service_seconds, "boot_seconds": belief.boot_seconds,
             "arrival_rate": belief.arrival_rate, "reason": belief.reason[:200]}
            if belief is not None else {}
        )  # fmt: skip
        try:
            sample = FleetSample.objects.create(
                time=at, provider=self.provider, policy=self.policy, visible=o.visible, in_flight=o.in_flight,
                running=o.running, pending=o.pending, desired=decision.desired, **estimates,
            )  # fmt: skip
            if self._next_prune is None or at >= self._next_prune:
                self.prune(at)
                self._next_prune = at + self.prune_every
        except DatabaseError as exc:
            self.outages.failed(exc)
            close_old_connections()
            return None
        self.outages.succeeded()
        return sample

    def prune(self, now: datetime) -> int:
        """Delete samples older than the retention period, whichever autoscaler wrote them."""
        deleted, _ = FleetSample.objects.filter(time__lt=now - self.retention).delete()
        if deleted:
            logger.info("pruned %d fleet samples older than %s", deleted, self.retention)
        return deleted
