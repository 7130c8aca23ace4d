"""GET /metrics: the service in the Prometheus text format.

Two sources: the counters and histograms every process on this host writes (common/metrics.py, added up across
processes by prometheus-client's multiprocess collector), and gauges read at scrape time, at most once per
METRICS_CACHE_SECONDS however often Prometheus asks: the queues' depth from SQS and the fleet from the autoscaler's
latest sample. A part that cannot be read is left out of that scrape (Prometheus then shows those series as
absent) and the log says what failed.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Iterable, Iterator

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from common import metrics
from status import fleet_history
from status.snapshot import queue_depth

logger = logging.getLogger(__name__)


class ScrapeTimeGauges:
    """Queue depth and fleet size, read when scraped and kept for `cache_seconds`."""

    def __init__(self, cache_seconds: float) -> None:
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.cache_seconds:
                self._families = [*self._queues(), *self._fleet()]
                self._read_at = time.monotonic()
            yield from self._families

    def _queues(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "classifier_queue_messages", "Messages in each queue: waiting for a consumer, or in flight (held).",
            labels=["queue", "state"],
        )  # fmt: skip
        queues = {"classify": settings.CLASSIFY_QUEUE, "results": settings.RESULTS_QUEUE,
                  "dead_letter": settings.DEAD_LETTER_QUEUE}  # fmt: skip
        try:
            for label, name in queues.items():
                waiting, in_flight = queue_depth(name)
                family.add_metric([label, "waiting"], waiting)
                family.add_metric([label, "in_flight"], in_flight)
        except (BotoCoreError, ClientError) as exc:
            logger.warning("metrics: cannot read the queues: %s", exc)
            return []
        return [family]

    def _fleet(self) -> Iterable[Metric]:
        workers = GaugeMetricFamily(
            "autoscale_workers", "The fleet at the autoscaler's latest tick: running, pending, desired.",
            labels=["state"],
        )  # fmt: skip
        sample = fleet_history.latest_sample()
        if sample is None:
            return [workers]  # no autoscaler has reported: the family, without series
        for state in ("running", "pending", "desired"):
            workers.add_metric([state], getattr(sample, state))
        age = GaugeMetricFamily("autoscale_sample_age_seconds", "Seconds since the autoscaler's latest tick.")
        age.add_metric([], max(0.0, time.time() - sample.time.timestamp()))
        return [workers, age]


_scrape_time = ScrapeTimeGauges(settings.METRICS_CACHE_SECONDS)


def exposition() -> bytes:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=metrics.MULTIPROCESS_DIR)
    registry.register(_scrape_time)  # type: ignore[arg-type]
    return generate_latest(registry)


def authorised(request: HttpRequest) -> bool | None:
    """True: answer. False: a token is needed and this is not it. None: off (production without a token)."""
    token = settings.METRICS_TOKEN
    if not token:
        return None if settings.PRODUCTION else True
    sent = request.headers.get("Authorization", "")
    return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    allowed = authorised(request)
    if allowed is None:
        return HttpResponseNotFound("metrics are off: set METRICS_TOKEN to scrape them\n", content_type="text/plain")
    if not allowed:
        response = HttpResponse("send Authorization: Bearer <METRICS_TOKEN>\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
