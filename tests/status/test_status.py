"""The status snapshot: pure arithmetic (windows, thinning) and the queries behind GET /api/status and the page."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import EndpointConnectionError

from autoscale.models import FleetSample, ScalingEvent
from classifier.models import Classification, Status
from stack.processes import free_port
from status import snapshot
from status.fleet_history import history, thin
from status.request_stats import latencies, parse_minutes, request_stats, window_ending
from tests.factories import make_request

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


# --- pure parts -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "minutes"), [(None, 5), ("", 5), ("1", 1), ("60", 60), (" 15 ", 15)])
def test_minutes_default_and_range(raw, minutes) -> None:
    assert parse_minutes(raw) == minutes


@pytest.mark.parametrize("raw", ["0", "61", "-5", "2.5", "five"])
def test_minutes_out_of_range_or_not_whole_are_refused(raw) -> None:
    with pytest.raises(ValueError, match="minutes must be"):
        parse_minutes(raw)


def test_window_ends_now() -> None:
    window = window_ending(NOW, 5)
    assert (window.start, window.end, window.minutes) == (NOW - timedelta(minutes=5), NOW, 5)


def test_thin_keeps_everything_when_few_and_always_the_newest() -> None:
    assert thin([1, 2, 3], 10) == ([1, 2, 3], 1)
    assert thin([], 10) == ([], 1)
    rows, stride = thin(list(range(1000)), 360)
    assert stride == 3 and len(rows) <= 360
    assert rows[-1] == 999 and rows == sorted(rows)


def test_queue_wait_never_negative_and_missing_starts_are_skipped() -> None:
    created = NOW
    turnaround, queue_wait = latencies(
        [
            (created, created + timedelta(seconds=1), created + timedelta(seconds=3)),
            (created, created - timedelta(milliseconds=5), created + timedelta(seconds=2)),  # worker clock behind
            (created, None, created + timedelta(seconds=4)),
        ]
    )
    assert turnaround == [3.0, 2.0, 4.0]
    assert queue_wait == [1.0, 0.0]


# --- queries ----------------------------------------------------------------------------------------------------


def add_request(status: str, created: datetime, wait: float | None = None, total: float | None = None) -> None:
    row = make_request(original_name="x.jpg", input_key="k", status=status)
    started = created + timedelta(seconds=wait) if wait is not None else None
    recorded = created + timedelta(seconds=total) if total is not None else None
    # created_at is auto_now_add: set the times the test needs with an update.
    Classification.objects.filter(pk=row.pk).update(created_at=created, started_at=started, recorded_at=recorded)


def sample(at: datetime, visible: int = 0, running: int = 0, provider: str = "local", **fields: object) -> FleetSample:
    values = {"in_flight": 0, "pending": 0, "desired": running, **fields}
    return FleetSample.objects.create(time=at, provider=provider, visible=visible, running=running, **values)


@pytest.mark.django_db
def test_request_stats_of_an_empty_database() -> None:
    stats = request_stats(window_ending(NOW, 5))
    assert (stats.finished, stats.throughput_per_minute, stats.latency_rows, stats.latency_capped) == (0, 0, 0, False)
    assert stats.by_status == {"queued": 0, "running": 0, "done": 0, "failed": 0, "expired": 0}
    assert stats.turnaround.p50 is None and stats.queue_wait.p99 is None


@pytest.mark.django_db
def test_request_stats_count_the_window_only() -> None:
    start = NOW - timedelta(minutes=5)
    for index in range(10):  # done within the window: turnarounds 1..10 s, waits 0.5 s
        add_request(Status.DONE, start + timedelta(seconds=10 * index), wait=0.5, total=index + 1)
    add_request(Status.FAILED, start + timedelta(seconds=5), total=20)
    add_request(Status.DONE, start - timedelta(minutes=10), wait=1, total=30)  # recorded before the window
    add_request(Status.QUEUED, NOW - timedelta(seconds=30))
    add_request(Status.RUNNING, NOW - timedelta(seconds=20), wait=2)

    stats = request_stats(window_ending(NOW, 5))
    assert (stats.finished, stats.done, stats.failed) == (11, 10, 1)
    assert stats.throughput_per_minute == pytest.approx(11 / 5)
    assert stats.by_status == {"queued": 1, "running": 1, "done": 10, "failed": 1, "expired": 0}
    assert (stats.turnaround.count, stats.turnaround.p50) == (10, pytest.approx(5.5))
    assert stats.queue_wait.p95 == pytest.approx(0.5)
    assert not stats.latency_capped


@pytest.mark.django_db
def test_percentiles_over_a_capped_query_say_so() -> None:
    for index in range(5):
        add_request(Status.DONE, NOW - timedelta(seconds=60 + index), wait=0, total=index + 1)
    stats = request_stats(window_ending(NOW, 5), cap=2)
    assert (stats.done, stats.latency_rows, stats.latency_capped) == (5, 2, True)


@pytest.mark.django_db
def test_no_sample_means_no_autoscaler_has_reported() -> None:
    fleet = snapshot.fleet_now(NOW)
    assert (fleet.reported, fleet.message, fleet.running) == (False, "no autoscaler has reported", None)


@pytest.mark.django_db
def test_the_latest_sample_gives_the_fleet_and_its_age(settings) -> None:
    settings.AUTOSCALE_INTERVAL = 5
    sample(NOW - timedelta(seconds=60), running=9)
    sample(NOW - timedelta(seconds=4), running=2, pending=1, desired=3, visible=7)
    fleet = snapshot.fleet_now(NOW)
    assert (fleet.reported, fleet.running, fleet.pending, fleet.desired, fleet.age_seconds) == (True, 2, 1, 3, 4.0)
    assert (fleet.stale, fleet.message) == (False, "")


@pytest.mark.django_db
def test_an_old_sample_is_stale_and_says_how_old(settings) -> None:
    settings.AUTOSCALE_INTERVAL = 5
    sample(NOW - timedelta(minutes=2), running=1)
    fleet = snapshot.fleet_now(NOW)
    assert fleet.stale
    assert fleet.message == "the autoscaler last reported 120 s ago"


@pytest.mark.django_db
def test_history_is_oldest_first_of_one_provider_with_real_fleet_changes_only() -> None:
    since = NOW - timedelta(hours=1)
    sample(since - timedelta(minutes=1), visible=99)  # before the chart
    for minute in (50, 30, 10):
        sample(NOW - timedelta(minutes=minute), visible=minute)
    sample(NOW - timedelta(minutes=20), visible=1, provider="ec2")
    ScalingEvent.objects.create(provider="local", policy="step", action="launch", visible=10, in_flight=0,
                                running=0, pending=0, desired=2, instance_ids=["a", "b"])  # fmt: skip
    ScalingEvent.objects.create(provider="local", policy="step", action="launch", visible=10, in_flight=0,
                                running=0, pending=0, desired=2, dry_run=True)  # fmt: skip
    chart = history(since, "local")
    assert [point.visible for point in chart.points] == [50, 30, 10]
    assert (chart.stride, chart.truncated) == (1, False)
    assert [(marker.action, marker.count) for marker in chart.markers] == [("launch", 2)]


@pytest.mark.django_db
def test_snapshot_with_no_data_at_all_still_answers() -> None:
    down = snapshot.QueueDepth(available=False, error="cannot read the queues at x: down")
    snap = snapshot.snapshot(NOW, 5, queues=lambda: down)
    assert snap.queue.error.startswith("cannot read the queues")
    assert not snap.fleet.reported
    assert snap.chart.points == [] and snap.chart.markers == []
    assert snap.requests.finished == 0


# --- the SQS adapter ----------------------------------------------------------------------------------------------


class FakeSqs:
    """The two calls SqsQueueDepth makes, with counts per queue name."""

    def __init__(self, depths: dict[str, tuple[int, int]]) -> None:
        self.depths = depths

    def get_queue_url(self, QueueName: str) -> dict:  # noqa: N803 (boto3's spelling)
        if QueueName not in self.depths:
            raise EndpointConnectionError(endpoint_url="http://nowhere")
        return {"QueueUrl": QueueName}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict:  # noqa: N803
        visible, hidden = self.depths[QueueUrl]
        return {"Attributes": {"ApproximateNumberOfMessages": str(visible),
                               "ApproximateNumberOfMessagesNotVisible": str(hidden)}}  # fmt: skip


def test_read_queues_counts_the_classify_queue_and_all_dead_letters(monkeypatch, settings) -> None:
    settings.SQS_QUEUE_PREFIX = "t-"
    fake = FakeSqs({"t-classify": (12, 3), "t-classify-dead-letter": (2, 1)})
    monkeypatch.setattr(snapshot, "quick_sqs", lambda endpoint, region: fake)
    assert snapshot.read_queues() == snapshot.QueueDepth(True, 12, 3, 3)


def test_read_queues_says_when_the_endpoint_is_unreachable_and_answers_quickly(settings) -> None:
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    depth = snapshot.read_queues()
    assert time.monotonic() - started < 5  # one quick try, not boto3's five patient ones
    assert not depth.available and depth.waiting is None
    assert depth.error.startswith(f"cannot read the queues at {settings.AWS_ENDPOINT_URL}")


# --- GET /api/status and the page -------------------------------------------------------------------------------


@pytest.fixture
def queues_up(monkeypatch):
    monkeypatch.setattr(snapshot, "read_queues", lambda: snapshot.QueueDepth(True, 4, 1, 0))


@pytest.mark.django_db
def test_api_status_answers_json_with_every_part(client, queues_up) -> None:
    sample(datetime.now(UTC) - timedelta(seconds=3), visible=4, running=1, in_flight=1)
    response = client.get("/api/status?minutes=15")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["window"]["minutes"] == 15
    assert body["queue"] == {"available": True, "waiting": 4, "in_flight": 1, "dead_letters": 0, "error": ""}
    assert (body["fleet"]["reported"], body["fleet"]["running"]) == (True, 1)
    assert body["requests"]["turnaround_seconds"] == {"count": 0, "p50": None, "p95": None, "p99": None}
    assert body["requests"]["by_status"] == {"queued": 0, "running": 0, "done": 0, "failed": 0, "expired": 0}
    assert [point["visible"] for point in body["chart"]["points"]] == [4]


@pytest.mark.django_db
def test_api_status_shows_what_the_latency_policy_believes(client, queues_up) -> None:
    sample(datetime.now(UTC) - timedelta(seconds=2), visible=40, running=1, desired=2, policy="latency",
           service_seconds=0.9, boot_seconds=5.0, arrival_rate=0.5,
           reason="2 worker(s) drain 40 within 30 s")  # fmt: skip
    fleet = client.get("/api/status").json()["fleet"]
    assert (fleet["policy"], fleet["desired"], fleet["reason"]) == ("latency", 2, "2 worker(s) drain 40 within 30 s")
    assert (fleet["service_seconds"], fleet["boot_seconds"], fleet["arrival_rate"]) == (0.9, 5.0, 0.5)


@pytest.mark.django_db
@pytest.mark.parametrize("minutes", ["0", "61", "abc"])
def test_api_status_refuses_a_bad_window_with_a_json_error(client, queues_up, minutes) -> None:
    response = client.get(f"/api/status?minutes={minutes}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_minutes" and body["error"].startswith("minutes: minutes must be")


@pytest.mark.django_db
def test_api_status_needs_authentication_when_api_auth_is_on(client, settings, queues_up) -> None:
    settings.API_AUTH = True
    assert client.get("/api/status").status_code == 401


@pytest.mark.django_db
def test_status_page_holds_the_chart_and_points_at_the_api(client) -> None:
    html = client.get("/status/").content.decode()
    assert '<svg id="fleet-chart"' in html
    assert 'data-api="/api/status"' in html
    for series in ("queue", "fleet", "running"):
        assert f'data-series="{series}"' in html
    assert 'id="last-refresh"' in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")  # no external assets


@pytest.mark.django_db
def test_fleet_samples_are_listed_read_only_in_the_admin(admin_client) -> None:
    sample(NOW, visible=7, running=2)
    page = admin_client.get("/admin/autoscale/fleetsample/")
    assert page.status_code == 200 and ">7<" in page.content.decode()
    assert admin_client.get("/admin/autoscale/fleetsample/add/").status_code == 403
