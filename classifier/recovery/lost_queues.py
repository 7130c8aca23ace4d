"""A queue created again lost everything it held: re-send at once what it may have held, without waiting a deadline.

The embedded endpoint restarting empty (and re-provisioned), or an operator deleting and re-creating a queue, leaves
the rows of accepted requests as the only trace of their messages, and of the results sent for them. The sweeper's
deadline (SWEEP_AFTER_SECONDS, long enough for a deep backlog) would find them minutes later, long after a
synchronous caller gave up. SQS stamps each queue with its creation time: when that time moves forward between two
passes, every request still pending that was last sent before it is sent again, after a short grace
(REBIRTH_GRACE): the classify queue lost its message; the results queue, its result.

The grace keeps those that were not lost from being answered twice: a send the web tier was retrying while the
endpoint restarted lands in the new queue, and a worker that was running a request when it happened sends its
result to the new results queue. Both are answered within the grace, so by then only the lost ones are pending.
A duplicate that gets through anyway is harmless: the first answer wins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from classifier.models import Classification
from common import metrics
from common.queues import SqsQueueDepth

logger = logging.getLogger(__name__)

BATCH = 500
REBIRTH_GRACE = timedelta(seconds=15)
# CreatedTimestamp has whole seconds: a request sent in the second the queue was re-created may have been lost too.
TIMESTAMP_GRAIN = timedelta(seconds=1)


class QueueRebirths:
    """Watches the creation times of some queues; `check()` says when one was created again since the last look."""

    def __init__(self, queues: list[SqsQueueDepth]) -> None:
        self.queues = queues
        self.seen: dict[str, float] = {}

    def check(self) -> datetime | None:
        """The newest re-creation time since the previous check, or None. The first check only takes note."""
        created = {queue.queue_name: queue.created_at() for queue in self.queues}  # all read, or none noted
        reborn: float | None = None
        for name, at in created.items():
            previous = self.seen.get(name)
            if previous is not None and at > previous:
                logger.warning("queue %s was created again: its messages are gone", name)
                reborn = max(reborn or 0, at)
        self.seen = created
        return None if reborn is None else datetime.fromtimestamp(reborn, UTC) + TIMESTAMP_GRAIN


def resend_sent_before(
    moment: datetime, now: datetime, send: Callable[[Classification], None]
) -> tuple[list[str], Exception | None]:
    """Send again every pending request last sent before `moment`; each claimed on its send time, as the sweeper's.

    Not counted against MAX_DISPATCHES: the queue lost them, not the workers. At the first failed send it stops and
    returns the error with what it did send: that one claim stands (its send time is now, so the sweeper's deadline
    covers it), and the rest are still pending and sent before `moment`, for the next call.
    """
    resent: list[str] = []
    moment = min(moment, now)  # a claim's new send time (now) must fall outside the filter, or this never ends
    lost = Classification.objects.pending().filter(dispatched_at__lt=moment).order_by("dispatched_at")
    # A claim moves the send time past `moment`, so each batch finds the next ones.
    while rows := list(lost[:BATCH]):
        for row in rows:
            claim = Classification.objects.filter(pk=row.pk, status=row.status, dispatched_at=row.dispatched_at)
            if claim.requeue(now, count=False):
                try:
                    send(row)
                except Exception as exc:
                    logger.warning("re-sending request %s failed (%s); the rest wait for the next pass", row.pk, exc)
                    return resent, exc
                resent.append(str(row.pk))
                metrics.SWEEPER_RESENDS.inc()
    if resent:
        logger.warning("re-sent %d request(s) the re-created queue(s) had lost", len(resent))
    return resent, None
