import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from autoscale.demand import RecordedDemand
from classifier.models import Status
from classifier.results.load import RECENT_RESULTS, demand_since
from tests.factories import make_request

pytestmark = pytest.mark.django_db


def finished(seconds: float, recorded_minutes_ago: float = 0) -> None:
    """A request run by a worker of its own (no back-to-back pairs: each result is one run time)."""
    now = timezone.now()
    make_request(status=Status.DONE, worker=f"w-{uuid.uuid4()}", started_at=now - timedelta(seconds=seconds),
                 finished_at=now, recorded_at=now - timedelta(minutes=recorded_minutes_ago))  # fmt: skip


def test_counts_what_was_accepted_since_and_the_median_worker_time() -> None:
    before = timezone.now()
    for seconds in (0.05, 0.07, 9.0):  # one slow outlier moves a median not at all
        finished(seconds)
    make_request()  # queued: counted as accepted, no timing
    accepted, service = demand_since(before)
    assert accepted == 4
    assert service == pytest.approx(0.07, abs=1e-3)
    assert demand_since(timezone.now())[0] == 0


def test_no_results_yet_means_no_service_time() -> None:
    make_request()
    assert demand_since(timezone.now() - timedelta(minutes=1)) == (1, None)


def test_only_the_latest_results_count() -> None:
    for _ in range(RECENT_RESULTS):
        finished(0.5)
    for _ in range(RECENT_RESULTS):
        finished(3.0, recorded_minutes_ago=60)  # a slower model, an hour ago
    assert demand_since(timezone.now())[1] == pytest.approx(0.5, abs=1e-3)


def test_the_autoscaler_reads_it_by_the_setting_and_counts_between_ticks() -> None:
    demand = RecordedDemand.from_settings()
    make_request()
    assert demand() == (0, None)  # the first tick starts the count
    make_request()
    finished(0.2)
    accepted, service = demand()
    assert accepted == 2 and service == pytest.approx(0.2, abs=1e-3)
    assert demand()[0] == 0


def test_back_to_back_requests_give_the_whole_cycle() -> None:
    start = timezone.now() - timedelta(minutes=1)
    for n in range(10):  # 20 ms of classification in each 60 ms cycle: the rest is the queue's and storage's
        began = start + timedelta(milliseconds=60 * n)
        make_request(status=Status.DONE, worker="w1@h", started_at=began,
                     finished_at=began + timedelta(milliseconds=20),
                     recorded_at=began + timedelta(milliseconds=30))  # fmt: skip
    assert demand_since(timezone.now())[1] == pytest.approx(0.06, abs=1e-3)
