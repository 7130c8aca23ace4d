"""The dashboards and alerts under deploy/observability/ parse, and every metric they name is one the service
exports (read from a real scrape of GET /metrics, queues on a moto endpoint and a fleet sample included)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from autoscale.models import FleetSample
from common import aws
from deploy.provision import QueuePlan, ensure_queues
from stack.embedded import LOCAL_CREDENTIALS
from status import metrics
from tests.conftest import ROOT

FOLDER = ROOT / "deploy" / "observability"
OURS = re.compile(r"\b((?:classifier|autoscale)_[a-z0-9_]+)\b")


def _expressions() -> dict[str, list[str]]:
    dashboard = json.loads((FOLDER / "grafana-dashboard.json").read_text())
    alerts = yaml.safe_load((FOLDER / "classifier-alerts.yml").read_text())
    return {
        "grafana-dashboard.json": [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]],
        "classifier-alerts.yml": [rule["expr"] for group in alerts["groups"] for rule in group["rules"]],
    }


@pytest.mark.django_db
def test_every_metric_the_dashboards_and_alerts_name_is_exported(client, endpoint, settings, monkeypatch) -> None:
    for name, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings.AWS_ENDPOINT_URL = endpoint
    ensure_queues(aws.client("sqs", endpoint, LOCAL_CREDENTIALS), QueuePlan.from_settings())
    monkeypatch.setattr(metrics, "_scrape_time", metrics.ScrapeTimeGauges(cache_seconds=0))
    FleetSample.objects.create(time=datetime.now(UTC), provider="local", visible=0, in_flight=0, running=1,
                               pending=0, desired=1)  # fmt: skip
    scraped = client.get("/metrics").content.decode()
    exported = {sample.name for family in text_string_to_metric_families(scraped) for sample in family.samples}
    named = {file: set(OURS.findall(" ".join(exprs))) for file, exprs in _expressions().items()}
    for file, names in named.items():
        assert names, f"{file} names none of our metrics"
        assert names <= exported, f"{file} names metrics the service does not export: {sorted(names - exported)}"
    dashboard_names = named["grafana-dashboard.json"]
    for needed in ("classifier_queue_messages", "autoscale_workers", "classifier_requests_total",
                   "classifier_request_duration_seconds_bucket"):  # fmt: skip
        assert needed in dashboard_names


def test_the_dashboard_shows_what_an_operator_needs() -> None:
    dashboard = json.loads((FOLDER / "grafana-dashboard.json").read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Queue depth", "Fleet", "Throughput", "Turnaround (accepted to recorded)", "Errors"} <= titles
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_prometheus_scrapes_metrics_with_the_token_and_loads_the_alerts() -> None:
    config = yaml.safe_load((FOLDER / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
    assert config["rule_files"] == ["classifier-alerts.yml"]
