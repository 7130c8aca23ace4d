"""The service at a glance, for GET /api/status and the status page: queues, fleet, requests, and a chart's series.

It reads both apps (classifier's requests, autoscale's fleet): this app is the one place that does.

Each part says when it has nothing to show (an unreachable SQS endpoint, no autoscaler) instead of failing the
whole snapshot: the status page matters most when something is down.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from common import aws
from common.queues import SqsQueueDepth
from status import fleet_history
from status.request_stats import RequestStats, Window, request_stats, window_ending

logger = logging.getLogger(__name__)

CHART_SPAN = timedelta(hours=1)
# The page refreshes every few seconds from a request thread: one quick try, not boto3's five patient ones.
QUICK = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 1})
# An autoscaler ticks every few seconds; a sample older than this many ticks (and at least STALE_MIN) is stale.
STALE_TICKS = 3
STALE_MIN = timedelta(seconds=30)
NO_AUTOSCALER = "no autoscaler has reported"


@dataclass(frozen=True)
class QueueDepth:
    available: bool
    waiting: int | None = None  # ApproximateNumberOfMessages of the classify queue
    in_flight: int | None = None  # …NotVisible: held by a worker
    dead_letters: int | None = None  # everything in the dead-letter queue, visible or not
    error: str = ""


@dataclass(frozen=True)
class FleetNow:
    reported: bool
    message: str = ""
    provider: str = ""
    sampled_at: datetime | None = None
    age_seconds: float | None = None
    stale: bool = False
    running: int | None = None
    pending: int | None = None
    desired: int | None = None
    policy: str = ""
    # The latency policy's estimates at that tick (None for the policies that estimate nothing).
    service_seconds: float | None = None
    boot_seconds: float | None = None
    arrival_rate: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class Snapshot:
    generated_at: datetime
    window: Window
    queue: QueueDepth
    fleet: FleetNow
    requests: RequestStats
    chart: fleet_history.History


@functools.lru_cache(maxsize=4)
def quick_sqs(endpoint: str, region: str) -> Any:
    # One client per endpoint and region, kept: building a boto3 client costs more than the two calls it makes.
    return aws.client("sqs", endpoint or None, config=QUICK)


@functools.lru_cache(maxsize=16)
def _depth_reader(endpoint: str, region: str, queue_name: str) -> SqsQueueDepth:
    return SqsQueueDepth(quick_sqs(endpoint, region), queue_name)


def queue_depth(name: str) -> tuple[int, int]:
    """(waiting, in flight) of one of our queues, with one quick try; its URL is looked up once, not per read (the
    status page, /metrics and /readyz all read through here)."""
    return _depth_reader(settings.AWS_ENDPOINT_URL, settings.AWS_REGION, settings.SQS_QUEUE_PREFIX + name)()


def read_queues() -> QueueDepth:
    """The classify queue's depth and the dead-letter queue's count, from SQS now."""
    endpoint = settings.AWS_ENDPOINT_URL
    try:
        waiting, in_flight = queue_depth(settings.CLASSIFY_QUEUE)
        dead, held = queue_depth(settings.DEAD_LETTER_QUEUE)
    except (BotoCoreError, ClientError) as exc:
        logger.warning("status: cannot read the queues: %s", exc)
        where = endpoint or f"SQS in {settings.AWS_REGION}"
        # The page may be public-facing: the error's class tells an operator where to look, the log has the details
        # (AWS error texts can carry account ids and ARNs).
        return QueueDepth(available=False, error=f"cannot read the queues at {where} ({type(exc).__name__})")
    return QueueDepth(True, waiting, in_flight, dead + held)


def fleet_now(now: datetime) -> FleetNow:
    sample = fleet_history.latest_sample()
    if sample is None:
        return FleetNow(reported=False, message=NO_AUTOSCALER)
    age = (now - sample.time).total_seconds()
    stale = age > max(STALE_MIN.total_seconds(), STALE_TICKS * settings.AUTOSCALE_INTERVAL)
    message = f"the autoscaler last reported {age:.0f} s ago" if stale else ""
    return FleetNow(True, message, sample.provider, sample.time, round(age, 1), stale, sample.running, sample.pending,
                    sample.desired, sample.policy, sample.service_seconds, sample.boot_seconds, sample.arrival_rate,
                    sample.reason)  # fmt: skip


def snapshot(now: datetime, minutes: int, queues: Callable[[], QueueDepth] | None = None) -> Snapshot:
    """`queues` reads SQS unless given (tests pass a fake)."""
    fleet = fleet_now(now)
    # The chart follows the fleet the latest sample came from; with no sample, whatever there is.
    chart = fleet_history.history(now - CHART_SPAN, fleet.provider or None)
    window = window_ending(now, minutes)
    return Snapshot(now, window, (queues or read_queues)(), fleet, request_stats(window), chart)
