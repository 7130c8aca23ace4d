"""GET /metrics, /healthz and /readyz with Django's test client, against a real moto endpoint where they read SQS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from autoscale.models import FleetSample
from classifier.results import recording
from common import aws
from deploy.provision import QueuePlan, ensure_queues
from stack.embedded import LOCAL_CREDENTIALS
from stack.processes import free_port
from status import health, metrics
from tests.factories import make_request, result_payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def sqs_up(endpoint, settings, monkeypatch):
    for name, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings.AWS_ENDPOINT_URL = endpoint
    ensure_queues(aws.client("sqs", endpoint, LOCAL_CREDENTIALS), QueuePlan.from_settings())
    monkeypatch.setattr(metrics, "_scrape_time", metrics.ScrapeTimeGauges(cache_seconds=0))
    monkeypatch.setattr(health, "readiness", health.Readiness(health.CHECKS, cache_seconds=0))
    return endpoint


def scrape(client, **headers) -> dict[str, list]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {family.name: family.samples for family in text_string_to_metric_families(response.content.decode())}


def value(samples: list, name: str, **labels: str) -> float:
    return next(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_count_recorded_requests_and_read_queues_and_fleet_at_scrape_time(client, sqs_up) -> None:
    before = scrape(client)
    done_before = value(before["classifier_requests"], "classifier_requests_total", status="done")
    duplicates_before = value(before["classifier_duplicate_results"], "classifier_duplicate_results_total")
    for _ in range(3):
        row = make_request()
        recording.record_result(str(row.pk), result_payload())
    recording.record_result(str(row.pk), result_payload())  # a redelivery: ignored, counted as a duplicate
    FleetSample.objects.create(time=datetime.now(UTC) - timedelta(seconds=2), provider="local", visible=4,
                               in_flight=1, running=2, pending=1, desired=3)  # fmt: skip
    after = scrape(client)
    assert value(after["classifier_requests"], "classifier_requests_total", status="done") == done_before + 3
    assert value(after["classifier_duplicate_results"], "classifier_duplicate_results_total") == duplicates_before + 1
    assert value(after["classifier_request_duration_seconds"], "classifier_request_duration_seconds_count") >= 3
    assert value(after["classifier_model_cpu_seconds"], "classifier_model_cpu_seconds_count") >= 3
    assert {"classifier_queue_wait_seconds", "classifier_inference_seconds", "classifier_sweeper_resends"} <= set(after)
    queues = {(s.labels["queue"], s.labels["state"]): s.value for s in after["classifier_queue_messages"]}
    assert set(queues) == {(q, s) for q in ("classify", "results", "dead_letter") for s in ("waiting", "in_flight")}
    workers = {s.labels["state"]: s.value for s in after["autoscale_workers"]}
    assert workers == {"running": 2, "pending": 1, "desired": 3}


def test_metrics_need_the_token_when_one_is_set_and_are_off_in_production_without(client, settings, sqs_up) -> None:
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert "classifier_requests" in scrape(client, HTTP_AUTHORIZATION="Bearer s3cret")
    settings.METRICS_TOKEN = ""
    settings.PRODUCTION = True
    assert client.get("/metrics").status_code == 404


def test_healthz_touches_nothing_and_readyz_checks_every_dependency(client, settings, sqs_up) -> None:
    assert client.get("/healthz").json() == {"status": "alive"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "failed": [],
                            "checks": {"database": "ok", "sqs": "ok", "storage": "ok"}}  # fmt: skip


def test_readyz_is_503_naming_sqs_while_the_endpoint_is_down(client, settings, sqs_up) -> None:
    settings.AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there: a real refused connection
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["failed"] == ["sqs"]
    assert body["checks"]["sqs"].startswith("failed (") and body["checks"]["database"] == "ok"
    assert client.get("/healthz").status_code == 200  # alive all the same: nothing to restart


def test_readiness_is_cached_between_probes() -> None:
    calls = []
    readiness = health.Readiness({"thing": lambda: calls.append(1)}, cache_seconds=60)
    for _ in range(5):
        assert readiness.verdict() == {"thing": "ok"}
    assert len(calls) == 1


def test_queue_and_fleet_gauges_are_read_once_per_cache_period_however_often_scraped(client, sqs_up, monkeypatch):
    """A scrape every second from several Prometheus servers must not become SQS calls every second."""
    reads: list[str] = []
    real_depth = metrics.queue_depth

    def counted(name: str) -> tuple[int, int]:
        reads.append(name)
        return real_depth(name)

    monkeypatch.setattr(metrics, "queue_depth", counted)
    monkeypatch.setattr(metrics, "_scrape_time", metrics.ScrapeTimeGauges(cache_seconds=60))
    for _ in range(5):
        assert "classifier_queue_messages" in scrape(client)
    assert len(reads) == 3  # the classify, results and dead-letter queues, once
    monkeypatch.setattr(metrics, "_scrape_time", metrics.ScrapeTimeGauges(cache_seconds=0))
    scrape(client)
    scrape(client)
    assert len(reads) == 3 + 2 * 3
