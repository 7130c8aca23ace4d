"""Re-send what was accepted but never answered: the database is the truth, the queues are transport.

A request can stall without any error reaching us: the send after the commit failed, the queue was purged, the
embedded endpoint restarted empty, or the worker holding it vanished. The sweeper finds requests still queued or
running SWEEP_AFTER_SECONDS after their last send and sends them again, up to MAX_DISPATCHES sends; after that the
request is marked failed with the reason. Each re-send is claimed with a conditional UPDATE on the row's last send
time, so two sweepers running at once never send the same request twice for one deadline. A duplicate that does
reach a worker is harmless: the first result wins.

A request can also be slow without being lost: behind a backlog longer than the deadline its message is still in
the queue. Re-sending all of those would add work exactly when there is too much of it, and giving up on them
would fail requests that were about to be served. So when the queue's backlog is known, a pass re-sends (or gives
up on) at most as many requests as the queue is missing: pending requests minus messages waiting or in flight.
Oldest sends go first; if a guess was wrong the next passes even it out, since a re-sent request has two messages.
A request OVERDUE_DEADLINES deadlines past its last send is handled whatever the queue holds: if nothing consumes
the queue at all (no workers can start), requests still end, failed with the reason, instead of waiting for SQS
to expire their messages days later.

Each pass also fails the requests whose messages were dead-lettered (classifier/recovery/dead_letters.py) and
forgets expired Idempotency-Keys (classifier/intake/idempotency.py): `Sweeper` is one whole pass, `sweep` the part
that looks at the requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from classifier import dispatch
from classifier.intake import idempotency
from classifier.models import Classification
from classifier.recovery.dead_letters import DeadLetterWatch
from classifier.recovery.lost_queues import REBIRTH_GRACE, QueueRebirths, resend_sent_before
from common import metrics
from common.outages import OutageLog
from common.queues import SqsQueueDepth

logger = logging.getLogger(__name__)

BATCH = 500
OVERDUE_DEADLINES = 3


@dataclass
class SweepReport:
    resent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)  # failed because their message is in the DLQ
    deferred: int = 0  # stale, but the queue still holds as many messages as there are pending requests
    send_error: Exception | None = None  # a re-send failed: the rest of the pass's re-sends were left for the next

    def line(self) -> str:
        line = (f"re-sent {len(self.resent)}, gave up on {len(self.failed)}, "
                f"failed {len(self.dead_lettered)} dead-lettered")  # fmt: skip
        return line + (f", left {self.deferred} stale ones whose messages may still be queued" if self.deferred else "")

    def found_work(self) -> bool:
        return bool(self.resent or self.failed or self.dead_lettered)


def sweep(
    now: datetime,
    *,
    after: timedelta,
    max_dispatches: int,
    send: Callable[[Classification], None],
    backlog: Callable[[], int] | None = None,
) -> SweepReport:
    """`backlog`: messages waiting or in flight on the classify queue (None: unknown, every stale request counts
    as lost). When it cannot be read the pass goes on as if it were unknown: a lost request must not wait for SQS."""
    report = SweepReport()
    stale = Classification.objects.pending().filter(dispatched_at__lt=now - after)
    rows = list(stale.order_by("dispatched_at")[:BATCH])
    if not rows:
        return report
    budget = _missing_from_queue(backlog)
    if budget is not None:
        overdue_before = now - after * OVERDUE_DEADLINES
        chosen = [row for n, row in enumerate(rows) if n < budget or row.dispatched_at < overdue_before]
        report.deferred = len(rows) - len(chosen)
        if report.deferred:
            logger.info("left %d stale requests whose messages may still be queued", report.deferred)
        rows = chosen
    for row in rows:
        claim = Classification.objects.filter(pk=row.pk, status=row.status, dispatched_at=row.dispatched_at)
        if row.dispatches >= max_dispatches:
            reason = (f"no result after {row.dispatches} sends to the classify queue, the last "
                      f"{int(after.total_seconds())} s ago; giving up")  # fmt: skip
            if claim.fail(reason, now):
                report.failed.append(str(row.pk))
                logger.warning("request %s failed: %s", row.pk, reason)
            continue
        if claim.requeue(now):
            try:
                send(row)
            except Exception as exc:  # the queue is down: this claim stands (its next deadline tries again) ...
                report.send_error = exc
                logger.warning("re-sending request %s failed (%s); the rest wait for the next pass", row.pk, exc)
                break  # ... and the others are not claimed for sends that would fail the same way
            report.resent.append(str(row.pk))
            metrics.SWEEPER_RESENDS.inc()
            logger.info("re-sent request %s (send %d)", row.pk, row.dispatches + 1)
    return report


def _missing_from_queue(backlog: Callable[[], int] | None) -> int | None:
    """How many pending requests have no message in the classify queue (at least), or None when unknown."""
    if backlog is None:
        return None
    try:
        in_queue = backlog()
    except Exception:  # SQS unreachable (the Sweeper logs it): sends will fail too; the database side goes on
        logger.debug("classify queue backlog unreadable; treating every stale request as lost", exc_info=True)
        return None
    return max(0, Classification.objects.pending().count() - in_queue)


class Sweeper:
    """One whole pass: queues created again (classifier/recovery/lost_queues.py), stale requests, dead letters,
    expired Idempotency-Keys.

    One SQS client serves the queue depth, the queues' creation times and the dead letters, made on first use: a
    pass starts with the database, and the endpoint may come up after the sweeper. SQS being away does not stop the
    database side of a pass (a request must not wait for SQS to be failed or forgotten): each SQS part that fails
    is skipped, and the outage is logged once, with its recovery, for the whole pass.
    """

    def __init__(self, make_sqs: Callable[[], Any], *, after: timedelta, max_dispatches: int) -> None:
        self.make_sqs = make_sqs
        self.after = after
        self.max_dispatches = max_dispatches
        self._sqs: Any = None
        self.dead_letters = DeadLetterWatch(self.sqs, on_error=self._sqs_failed)
        self.sqs_outage = OutageLog(logger, "sweep's SQS reads")
        self._sqs_errors: list[Exception] = []
        self._queue_depth: SqsQueueDepth | None = None
        self._rebirths: QueueRebirths | None = None
        self.lost_before: datetime | None = None  # re-send what was sent before this, once the grace is over

    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = self.make_sqs()
        return self._sqs

    def sweep(self, now: datetime) -> SweepReport:
        self._sqs_errors = []
        lost = self.resend_lost(now)
        report = sweep(now, after=self.after, max_dispatches=self.max_dispatches,
                       send=dispatch.send_for_classification, backlog=self.classify_backlog)  # fmt: skip
        report.resent[:0] = lost
        if report.send_error is not None:
            self._sqs_failed(report.send_error)
        report.dead_lettered = self.dead_letters.run(now)
        idempotency.forget_expired(now)
        if self._sqs_errors:
            self.sqs_outage.failed(self._sqs_errors[0])
        else:
            self.sqs_outage.succeeded()
        return report

    def _sqs_failed(self, error: Exception) -> None:
        self._sqs_errors.append(error)

    def resend_lost(self, now: datetime) -> list[str]:
        """Notice a re-created queue and, once the grace after it is over, send again what it lost."""
        if self._rebirths is None:
            names = [settings.SQS_QUEUE_PREFIX + name for name in (settings.CLASSIFY_QUEUE, settings.RESULTS_QUEUE)]
            self._rebirths = QueueRebirths([SqsQueueDepth(self.sqs(), name) for name in names])
        try:
            reborn = self._rebirths.check()
        except Exception as exc:  # looked at again next pass: check() forgets nothing it did not compare
            self._sqs_failed(exc)
            reborn = None
        if reborn is not None:
            self.lost_before = max(self.lost_before or reborn, reborn)
        if self.lost_before is None or now < self.lost_before + REBIRTH_GRACE:
            return []
        resent, error = resend_sent_before(self.lost_before, now, dispatch.send_for_classification)
        if error is not None:
            self._sqs_failed(error)  # the rest are still pending and sent before the moment: the next pass
            return resent
        self.lost_before = None
        return resent

    def classify_backlog(self) -> int:
        if self._queue_depth is None:
            self._queue_depth = SqsQueueDepth(self.sqs(), settings.SQS_QUEUE_PREFIX + settings.CLASSIFY_QUEUE)
        try:
            return sum(self._queue_depth())
        except Exception as exc:
            self._sqs_failed(exc)
            raise
