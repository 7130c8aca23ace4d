"""The latency policy's view of the load, live: requests accepted between ticks and the recent service time.

The controller's `Demand` adapter over the function the AUTOSCALE_DEMAND setting names (the classifier's reader of
its recorded requests): the autoscaler learns the load without importing the classifier.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from django.utils.module_loading import import_string

DemandSince = Callable[[datetime], tuple[int, float | None]]


class RecordedDemand:
    def __init__(self, read: DemandSince, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.read = read
        self.clock = clock
        self._since: datetime | None = None

    @classmethod
    def from_settings(cls) -> RecordedDemand:
        from django.conf import settings

        return cls(import_string(settings.AUTOSCALE_DEMAND))

    def __call__(self) -> tuple[int, float | None]:
        """Accepted since the previous call (none on the first: the policy's arrival clock starts there), and the
        service time. A read that fails raises, and its tick decides nothing; the next counts from the last success."""
        now = self.clock()
        accepted, service_seconds = self.read(self._since or now)
        self._since = now
        return accepted, service_seconds
