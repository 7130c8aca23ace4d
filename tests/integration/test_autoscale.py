"""The fleet follows the queue with real processes: 60 images at once, local workers launched by
`manage.py autoscale`, every image classified once, and the fleet back to zero once the workers idle out; under the
seed's `step` rule and under the `latency` policy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings

from autoscale.models import FleetSample, ScalingEvent
from classifier.models import Classification, Status
from stack.local import LocalStack
from tests.conftest import IMAGES_DIR
from tests.integration.conftest import first_pass_only, start_stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    first_pass_only("the fleet follows the queue, whichever database records the requests"),
]

TICK = 2.0
IDLE = 6.0


def scaling(tmp_path_factory, policy: str) -> Iterator[LocalStack]:
    running = start_stack(
        tmp_path_factory.mktemp(f"autoscale-{policy}-logs"),
        workers=0,
        autoscale=True,
        autoscale_max=3,
        autoscale_interval=TICK,
        autoscale_policy=policy,
        extra_env={"WORKER_IDLE_SECONDS": str(IDLE)},
    )
    yield running
    running.stop()


@pytest.fixture
def scaling_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LocalStack]:
    yield from scaling(tmp_path_factory, "step")


@pytest.fixture
def latency_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LocalStack]:
    yield from scaling(tmp_path_factory, "latency")


async def _submit(url: str, count: int) -> list[str]:
    paths = sorted(IMAGES_DIR.glob("*.JPEG"))[:count]
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(client.post(url, files={"file": (p.name, p.read_bytes(), "image/jpeg")}) for p in paths)
        )
    assert [response.status_code for response in responses] == [202] * count
    return [response.json()["results"][0]["id"] for response in responses]


def _wait_for(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def test_sixty_images_grow_the_fleet_then_it_retires_to_zero(scaling_stack) -> None:
    provider = scaling_stack.local_provider()
    assert provider.instances() == []

    ids = asyncio.run(_submit(scaling_stack.web_url + "/api/classifications", 60))
    # Two ticks to decide, plus one worker's boot (torch import and the model).
    _wait_for(lambda: len(provider.instances()) >= 2, 2 * TICK + 30, "the fleet growing to two workers")
    assert len(provider.instances()) <= 3

    _wait_for(lambda: Classification.objects.filter(status=Status.DONE).count() == 60, 180, "all 60 classified")
    rows = Classification.objects.filter(pk__in=ids)
    assert {row.status for row in rows} == {Status.DONE}
    assert {row.result_deliveries for row in rows} == {1}  # exactly once
    assert len({row.worker for row in rows}) >= 2

    # Idle time, two ticks, and the warm shutdown itself (the long poll in progress, then the pool's exit).
    allowed = IDLE + 2 * TICK + 5
    elapsed = _wait_for(lambda: provider.instances() == [], allowed, "the fleet retiring to zero")
    print(f"fleet back to zero {elapsed:.1f} s after the last result")
    launches = ScalingEvent.objects.filter(action=ScalingEvent.Action.LAUNCH)
    assert launches.exists()
    # Never more than the cap at once (a worker that retired early may be replaced while results are in flight,
    # so the launches over the whole run may add up to more).
    assert all(event.running + event.pending + len(event.instance_ids) <= 3 for event in launches)
    # Every tick left a sample (the status page's chart): the fleet never stood above the cap.
    samples = FleetSample.objects.all()
    assert samples.count() >= 3
    assert max(sample.running + sample.pending for sample in samples) <= 3
    assert max(sample.visible for sample in samples) > 0
    assert max(event.desired for event in launches) == 3


def test_the_latency_policy_answers_the_burst_and_retires_to_zero(latency_stack) -> None:
    provider = latency_stack.local_provider()
    assert provider.instances() == []
    ids = asyncio.run(_submit(latency_stack.web_url + "/api/classifications", 60))
    _wait_for(lambda: Classification.objects.filter(pk__in=ids, status=Status.DONE).count() == 60, 180,
              "all 60 classified")  # fmt: skip
    rows = Classification.objects.filter(pk__in=ids)
    assert {row.result_deliveries for row in rows} == {1}
    elapsed = _wait_for(lambda: provider.instances() == [], IDLE + 2 * TICK + 5, "the fleet retiring to zero")
    print(f"latency policy: fleet back to zero {elapsed:.1f} s after the last result")
    # It wrote down what it believed, and learned the service time from the results it recorded.
    believed = FleetSample.objects.filter(policy="latency").exclude(service_seconds=None).order_by("time")
    assert believed.exists() and all(sample.reason for sample in believed)
    learned = believed.last().service_seconds
    assert learned != pytest.approx(settings.AUTOSCALE_SERVICE_SECONDS), "still the prior: nothing was learned"
    launches = ScalingEvent.objects.filter(action=ScalingEvent.Action.LAUNCH, policy="latency")
    assert launches.exists()
    assert max(sample.running + sample.pending for sample in FleetSample.objects.all()) <= 3
