"""Re-send what was accepted but never answered: the database is the truth, the queues are transport.

A request can stall without any error reaching us: the send after the commit failed, the queue was purged, the
embedded endpoint restarted empty, or the worker holding it vanished. The sweeper finds requests still queued or
running SWEEP_AFTER_SECONDS after their last send and sends them again, up to MAX_DISPATCHES sends; after that the
request is marked failed with the reason. Each re-send is claimed with a conditional UPDATE on the row's last send
time, so two sweepers running at once never send the same request twice for one deadline. A duplicate that does
reach a worker is harmless: the first result wins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import F

from classifier.models import PENDING_STATUSES, Classification, Status

logger = logging.getLogger(__name__)

BATCH = 500


@dataclass
class SweepReport:
    resent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)  # failed because their message is in the DLQ

    def line(self) -> str:
        return (f"re-sent {len(self.resent)}, gave up on {len(self.failed)}, "
                f"failed {len(self.dead_lettered)} dead-lettered")  # fmt: skip

    def found_work(self) -> bool:
        return bool(self.resent or self.failed or self.dead_lettered)


def sweep(
    now: datetime, *, after: timedelta, max_dispatches: int, send: Callable[[Classification], None]
) -> SweepReport:
    report = SweepReport()
    stale = Classification.objects.filter(status__in=PENDING_STATUSES, dispatched_at__lt=now - after)
    for row in stale.order_by("dispatched_at")[:BATCH]:
        claim = Classification.objects.filter(pk=row.pk, status=row.status, dispatched_at=row.dispatched_at)
        if row.dispatches >= max_dispatches:
            reason = (f"no result after {row.dispatches} sends to the classify queue, the last "
                      f"{int(after.total_seconds())} s ago; giving up")  # fmt: skip
            if claim.update(status=Status.FAILED, error=reason, recorded_at=now):
                report.failed.append(str(row.pk))
                logger.warning("request %s failed: %s", row.pk, reason)
            continue
        if claim.update(status=Status.QUEUED, dispatches=F("dispatches") + 1, dispatched_at=now):
            try:
                send(row)
            except Exception:  # the queue is down too: the claim stands, the next deadline tries again
                logger.exception("re-sending request %s failed", row.pk)
                continue
            report.resent.append(str(row.pk))
            logger.info("re-sent request %s (send %d)", row.pk, row.dispatches + 1)
    return report
