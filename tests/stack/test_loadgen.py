"""The load generator's client side against a scripted server (httpx's MockTransport): odd answers become counted
errors with their reason, never an exception that would end the run before its table."""

from __future__ import annotations

import functools

import httpx
import pytest

from stack import loadgen
from tests.conftest import IMAGES_DIR

IMAGE = IMAGES_DIR / "test_2.JPEG"
SUBMITTED = {"results": [{"id": "1", "status_url": "http://svc/api/classifications/1"}]}


def _send(handler, protocol: str = "api", token: str = "") -> loadgen.Outcome:
    headers = {"Authorization": f"Token {token}"} if token else {}
    with httpx.Client(transport=httpx.MockTransport(handler), headers=headers) as client:
        return loadgen.send_one(client, "http://svc", protocol, IMAGE, timeout=5)


@pytest.mark.parametrize(
    ("poll", "error"),
    [
        (httpx.Response(401, json={"error": "authentication required"}), "status poll: "),
        (httpx.Response(200, text="<html>proxy error</html>"), "unexpected answer: "),
        (httpx.Response(200, json={"unexpected": True}), "unexpected answer: KeyError"),
    ],
)
def test_an_odd_status_poll_is_a_counted_error(poll: httpx.Response, error: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, json=SUBMITTED) if request.method == "POST" else poll

    outcome = _send(handler)
    assert outcome.error.startswith(error)
    report = loadgen.LoadReport(outcomes=[outcome])
    assert (report.successes, report.http_errors, report.ok) == (0, 1, False)


def test_a_refused_cse546_answer_keeps_the_servers_message() -> None:
    outcome = _send(lambda request: httpx.Response(503, text="database unavailable\n"), protocol="myfile")
    assert (outcome.status, outcome.error, outcome.label) == (503, "database unavailable", "")


def test_the_token_is_sent_with_every_call(monkeypatch) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        if request.method == "POST":
            return httpx.Response(202, json=SUBMITTED)
        return httpx.Response(200, json={"status": "done", "label": "monarch butterfly"})

    monkeypatch.setattr(httpx, "Client", functools.partial(httpx.Client, transport=httpx.MockTransport(handler)))
    report = loadgen.run("http://svc", [IMAGE], requests=2, concurrency=2, protocol="api", token="k3y")
    assert (report.successes, report.ok) == (2, True)
    assert seen == ["Token k3y"] * 4
