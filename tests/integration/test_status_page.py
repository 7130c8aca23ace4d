"""The status page in a real browser (Debian's chromium driven by Playwright) against the running web tier.

The test writes FleetSample rows as an autoscaler would, into the database the stack's web process reads, and
watches the page draw them and then pick up a new one by itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from autoscale.models import FleetSample, ScalingEvent

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    # Checked before the session's stack starts: no point starting it for a browser we do not have.
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no chromium at {CHROMIUM} (apt-get install chromium; `playwright install` cannot download here)",
    ),
]

POINTS_OF = "s => document.querySelector(`polyline[data-series='${s}']`).getAttribute('points').trim()"


@pytest.fixture
def page(stack, monkeypatch) -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an asyncio loop open in this thread, and Django then refuses ORM calls here. They
    # never overlap with it (the loop only runs inside Playwright's own calls): Django's documented escape hatch.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--headless"])
        try:
            tab = browser.new_page()
            tab.on("pageerror", lambda exc: problems.append(f"script error: {exc}"))
            tab.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
            tab.on("response", lambda response: problems.append(f"{response.status}: {response.url}")
                   if response.status >= 400 and not response.url.endswith("/favicon.ico") else None)  # fmt: skip
            yield tab
        finally:
            browser.close()
    assert problems == []


def add_sample(minutes_ago: float, visible: int, running: int, pending: int = 0) -> None:
    FleetSample.objects.create(time=timezone.now() - timedelta(minutes=minutes_ago), provider="local",
                               visible=visible, in_flight=1, running=running, pending=pending,
                               desired=running + pending)  # fmt: skip


def points(page, series: str) -> list[tuple[float, float]]:
    text = page.evaluate(POINTS_OF, series)
    return [tuple(float(v) for v in pair.split(",")) for pair in text.split()] if text else []


def wait_for_points(page, count: int, timeout_ms: float) -> None:
    page.wait_for_function(
        f"() => ({POINTS_OF})('queue').split(/\\s+/).filter(Boolean).length === {count}", timeout=timeout_ms
    )


def test_the_chart_draws_the_samples_and_refreshes_by_itself(stack, page) -> None:
    for minutes_ago, visible, running, pending in [(40, 0, 0, 0), (30, 25, 2, 3), (20, 60, 5, 0), (10, 12, 5, 0),
                                                    (0.1, 2, 1, 0)]:  # fmt: skip
        add_sample(minutes_ago, visible, running, pending)
    ScalingEvent.objects.create(provider="local", policy="step", action="launch", visible=25, in_flight=1,
                                running=2, pending=0, desired=5, instance_ids=["a", "b", "c"])  # fmt: skip

    page.goto(f"{stack.web_url}/status/")
    wait_for_points(page, 5, timeout_ms=15_000)

    queue, fleet, running = points(page, "queue"), points(page, "fleet"), points(page, "running")
    assert len(queue) == len(fleet) == len(running) == 5
    xs = [x for x, _ in queue]
    assert xs == sorted(xs) and len(set(xs)) == 5  # oldest to newest, left to right
    assert min(queue, key=lambda p: p[1]) == queue[2]  # the deepest queue (61 messages) is the highest point
    assert [y for _, y in fleet][1] == min(y for _, y in fleet)  # 2 running + 3 pending: the largest fleet
    assert page.locator("#fleet-chart line[data-marker='launch']").count() == 1
    assert page.text_content("#fleet-running") == "1"  # the latest sample
    assert page.text_content("#queue-waiting").isdigit()  # read from the stack's real SQS endpoint
    assert page.text_content("#fleet-chart .empty") == ""

    refreshes = int(page.get_attribute("#last-refresh", "data-refreshes"))
    stamp = page.text_content("#last-refresh")
    add_sample(0, visible=40, running=3)
    wait_for_points(page, 6, timeout_ms=20_000)  # no reload: the page's own refresh fetched it
    assert int(page.get_attribute("#last-refresh", "data-refreshes")) > refreshes
    assert page.text_content("#last-refresh") != stamp
    assert page.text_content("#fleet-running") == "3"


def test_with_no_samples_the_page_says_no_autoscaler_has_reported(stack, page) -> None:
    page.goto(f"{stack.web_url}/status/")
    page.wait_for_selector("#last-refresh[data-refreshes='1']", state="attached", timeout=15_000)
    assert page.text_content("#fleet-chart .empty") == "No autoscaler has reported yet."
    assert page.text_content("#fleet-note") == "no autoscaler has reported"
    assert points(page, "queue") == [] and points(page, "running") == []
    assert page.locator("#fleet-chart .labels text").count() > 0  # the axes are drawn all the same
    assert page.is_hidden("#refresh-error")
