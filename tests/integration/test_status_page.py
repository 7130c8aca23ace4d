"""The status page in a real browser (Debian's chromium driven by Playwright) against the running web tier.

The test writes FleetSample rows as an autoscaler would, into the database the stack's web process reads, and
watches the page draw them and then pick up a new one by itself.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from autoscale.models import FleetSample, ScalingEvent
from tests.integration.conftest import needs_chromium

# The chromium check runs before the session's stack starts: no point starting it for a browser we do not have.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), needs_chromium]

POINTS_OF = "s => document.querySelector(`polyline[data-series='${s}']`).getAttribute('points').trim()"


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

    page.goto("/status/")
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
    page.goto("/status/")
    page.wait_for_selector("#last-refresh[data-refreshes='1']", state="attached", timeout=15_000)
    assert page.text_content("#fleet-chart .empty") == "No autoscaler has reported yet."
    assert page.text_content("#fleet-note") == "no autoscaler has reported"
    assert points(page, "queue") == [] and points(page, "running") == []
    assert page.locator("#fleet-chart .labels text").count() > 0  # the axes are drawn all the same
    assert page.is_hidden("#refresh-error")
