"""What an operator sees of the running stack: /metrics, /healthz and /readyz, one request followed through every
tier's log, a time to live that ends a request `expired`, and JSON logs."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from classifier.models import Classification, Status
from stack.local import web_argv
from stack.processes import ManagedProcess, free_port, wait_for_port
from tests.conftest import IMAGES_DIR, ROOT

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAMILIES = {"classifier_requests", "classifier_request_duration_seconds", "classifier_queue_wait_seconds",
            "classifier_inference_seconds", "classifier_queue_messages", "autoscale_workers",
            "classifier_duplicate_results", "classifier_sweeper_resends"}  # fmt: skip
IMAGES = sorted(IMAGES_DIR.glob("*.JPEG"))


def scrape(url: str) -> dict[str, list]:
    response = httpx.get(url + "/metrics", timeout=30)
    assert response.status_code == 200, response.text
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def done_count(families: dict[str, list]) -> float:
    return next(s.value for s in families["classifier_requests"] if s.labels == {"status": "done"})


def submit(url: str, count: int, **form: str) -> list[str]:
    files = [("file", (path.name, path.read_bytes(), "image/jpeg")) for path in IMAGES[:count]]
    response = httpx.post(url + "/api/classifications", files=files, data=form, timeout=60)
    assert response.status_code == 202, response.text
    return [item["id"] for item in response.json()["results"]]


def finished(ids: list[str], timeout: float = 120) -> list[Classification]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(Classification.objects.filter(pk__in=ids))
        if len(rows) == len(ids) and all(row.is_finished for row in rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"{len(ids)} requests did not finish within {timeout:.0f} s")


def test_metrics_count_twenty_requests_and_the_health_endpoints_answer(stack) -> None:
    before = done_count(scrape(stack.web_url))
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda path: httpx.post(
            stack.web_url + "/", files={"myfile": (path.name, path.read_bytes(), "image/jpeg")}, timeout=170
        ), IMAGES[:20]))  # fmt: skip
    assert [answer.status_code for answer in answers] == [200] * 20
    families = scrape(stack.web_url)
    assert set(families) >= FAMILIES, FAMILIES - set(families)
    # Recorded by the results consumer, a process of its own: the web tier's scrape adds up both.
    assert done_count(families) - before == 20
    queues = {(s.labels["queue"], s.labels["state"]) for s in families["classifier_queue_messages"]}
    assert ("classify", "waiting") in queues and ("dead_letter", "in_flight") in queues
    assert httpx.get(stack.web_url + "/healthz").json() == {"status": "alive"}
    ready = httpx.get(stack.web_url + "/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True


def test_one_request_can_be_followed_through_every_tier_s_log(stack) -> None:
    [request_id] = submit(stack.web_url, 1)
    [row] = finished([request_id])
    assert row.status == Status.DONE
    time.sleep(1)  # the consumer's "succeeded" line comes after the row is written
    logs = {name: (stack.log_dir / f"{name}.log").read_text(errors="replace")
            for name in ("web", "worker-1", "results-consumer")}  # fmt: skip
    for name, text in logs.items():
        lines = [line for line in text.splitlines() if request_id in line]
        assert lines, f"{name}.log never names {request_id}"
        print(f"{name}: {len(lines)} lines, e.g. {lines[-1][:160]}")
    assert f"[{request_id}]: classified {request_id}" in logs["worker-1"]


def test_a_request_past_its_time_to_live_ends_expired_and_is_never_classified(stack) -> None:
    backlog = submit(stack.web_url, 60)  # about three seconds of work for the one worker
    [late] = submit(stack.web_url, 1, ttl="1")
    rows = {str(row.pk): row for row in finished([*backlog, late])}
    expired = rows.pop(late)
    assert expired.status == Status.EXPIRED, (expired.status, expired.label)
    assert expired.error.startswith("expired: its time to live ended") and expired.label == ""
    assert not expired.output_key
    assert {row.status for row in rows.values()} == {Status.DONE}
    body = httpx.get(f"{stack.web_url}/api/classifications/{late}").json()
    assert body["status"] == "expired" and body["error"].startswith("expired:")
    worker_log = (stack.log_dir / "worker-1.log").read_text(errors="replace")
    assert f"classified {late}" not in worker_log
    assert f"request {late} expired" in worker_log
    expired_count = next(s.value for s in scrape(stack.web_url)["classifier_requests"]
                         if s.labels == {"status": "expired"})  # fmt: skip
    assert expired_count >= 1


def test_log_format_json_makes_every_line_an_object(stack, tmp_path) -> None:
    port = free_port()
    log = tmp_path / "web-json.log"
    web = ManagedProcess("web-json", web_argv(port), {**stack.child_env(), "LOG_FORMAT": "json"}, log, cwd=ROOT).start()
    try:
        wait_for_port("127.0.0.1", port, timeout=60, process=web)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code == 200
    finally:
        web.stop()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    entries = [json.loads(line) for line in lines]  # every line, uvicorn's own included
    assert any("Uvicorn running" in entry["message"] or "Application startup" in entry["message"] for entry in entries)


def test_a_worker_with_log_format_json_writes_nothing_but_objects(stack, tmp_path) -> None:
    """Celery's banner and Python's warnings (running as root here) included."""
    from django.conf import settings

    from autoscale.worker_command import worker_argv

    log = tmp_path / "worker-json.log"
    env = {**stack.child_env(), "LOG_FORMAT": "json"}
    argv = worker_argv("worker-json", queue=settings.CLASSIFY_QUEUE)
    worker = ManagedProcess("worker-json", argv, env, log, cwd=ROOT).start()
    try:
        deadline = time.monotonic() + 60
        while "ready." not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        worker.stop()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line
    assert any("ready." in entry["message"] for entry in entries), lines[-5:]
    assert any("[queues]" in entry["message"] for entry in entries)  # the banner, as one record


def test_readyz_is_503_naming_sqs_while_the_endpoint_is_down(stack) -> None:
    """Last in this module: the endpoint comes back empty and re-provisioned, as after a crash."""
    stack.process("aws-endpoint").stop()
    try:
        deadline = time.monotonic() + 30
        while True:
            answer = httpx.get(stack.web_url + "/readyz", timeout=30)
            if answer.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer.status_code == 503, answer.text
        assert "sqs" in answer.json()["failed"] and answer.json()["checks"]["database"] == "ok"
        assert httpx.get(stack.web_url + "/healthz").status_code == 200
    finally:
        stack.restart_endpoint()
    deadline = time.monotonic() + 30
    while httpx.get(stack.web_url + "/readyz", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, "not ready again after the endpoint came back"
        time.sleep(0.5)
