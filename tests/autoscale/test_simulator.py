import time

import numpy as np
import pytest
from django.conf import settings

from autoscale import chart, traces
from autoscale.policy import LatencyPolicy, StepPolicy, TargetPolicy
from autoscale.simulator import cheapest_fixed_fleet, simulate


def test_burst_of_100_is_served_and_the_fleet_returns_to_zero() -> None:
    report = simulate(StepPolicy(0, 19), traces.named("burst100"), service_time=0.08, boot_seconds=60)
    assert report.served == 100
    assert report.peak_workers == 19
    assert 60 <= report.wait_max <= 62  # the boot delay dominates
    assert report.timeline[-1][1:] == (0, 0)  # queue empty, no workers left


def test_target_policy_uses_fewer_instance_seconds_on_a_burst() -> None:
    trace = traces.named("burst100")
    step = simulate(StepPolicy(0, 19), trace, service_time=0.08, boot_seconds=5)
    target = simulate(TargetPolicy(0, 19, target=10), trace, service_time=0.08, boot_seconds=5)
    assert target.served == step.served == 100
    assert target.instance_seconds < step.instance_seconds
    assert target.peak_workers <= 10


def test_min_workers_are_kept_and_launches_respect_max() -> None:
    report = simulate(StepPolicy(2, 4), traces.named("poisson", rate=20), service_time=0.08, boot_seconds=5)
    assert report.peak_workers == 4
    assert report.timeline[-1][2] == 2 or report.timeline[-1][0] >= 600


def test_internet_scale_runs_in_seconds() -> None:
    started = time.monotonic()
    report = simulate(TargetPolicy(0, 1000), traces.named("poisson", rate=1000), service_time=0.08, boot_seconds=60)
    assert time.monotonic() - started < 10
    assert report.peak_workers <= 1000
    assert report.served == pytest.approx(600_000, rel=0.01)


def test_csv_traces(tmp_path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("t,count\n0,5\n1.5,1\n10,4\n")
    trace = traces.load(str(path))
    rng = np.random.default_rng(0)
    assert [trace.arrivals(t, 1.0, rng) for t in (0, 1, 2, 10)] == [5, 1, 0, 4]
    report = simulate(StepPolicy(0, 3), trace, service_time=0.1, boot_seconds=1)
    assert report.served == 10


def test_unknown_trace_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown trace"):
        traces.load("tsunami")


def test_chart_is_a_png(tmp_path) -> None:
    report = simulate(StepPolicy(0, 5), traces.named("burst100"), service_time=0.08, boot_seconds=5)
    path = tmp_path / "chart.png"
    chart.draw([report], "burst", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def shipped_timing(service: float, boot: float) -> dict[str, float]:
    """The simulator with the timings the service ships: idle retirement, tick and idle tick from settings."""
    return {"service_time": service, "boot_seconds": boot, "idle_seconds": settings.WORKER_IDLE_SECONDS,
            "interval": settings.AUTOSCALE_INTERVAL, "idle_interval": settings.AUTOSCALE_IDLE_INTERVAL}  # fmt: skip


def latency_policy(service: float, boot: float) -> LatencyPolicy:
    # The simulated deployment has served and launched before: its records give it the service and boot times.
    return LatencyPolicy(0, 19, target_wait=30.0, service_prior=service, boot_prior=boot)


@pytest.mark.parametrize(("service", "boot"), [(0.08, 60), (1.0, 60), (0.08, 5), (0.5, 30)])
def test_latency_spends_what_the_cheapest_fixed_fleet_would_on_a_burst(service: float, boot: float) -> None:
    trace, timing = traces.named("burst100"), shipped_timing(service, boot)
    report = simulate(latency_policy(service, boot), trace, **timing)
    hindsight = cheapest_fixed_fleet(trace, report.wait_p95, 19, {}, **timing)
    assert report.served == 100
    assert report.wait_p95 <= boot + 30
    ratio = hindsight.ratio(report)
    assert ratio is not None and ratio <= 1.15, (report.line(), hindsight)


@pytest.mark.parametrize("name", ["poisson", "spike", "diurnal"])
@pytest.mark.parametrize("boot", [60.0, 5.0])
def test_latency_is_cheaper_than_the_seed_rule_at_a_like_wait(name: str, boot: float) -> None:
    trace, timing = traces.named(name), shipped_timing(0.08, boot)
    step = simulate(StepPolicy(0, 19), trace, **timing)
    latency = simulate(latency_policy(0.08, boot), trace, **timing)
    assert latency.served == step.served
    assert latency.wait_p95 <= step.wait_p95 + 10
    if name == "diurnal" and boot == 5.0:
        # A day at 2 images/s needs one worker, and both keep exactly one: it is idle retirement, not the policy,
        # that prices the quiet night (see the README's autoscaling table).
        assert latency.instance_seconds <= step.instance_seconds
    else:
        assert latency.instance_seconds < step.instance_seconds


def test_the_hindsight_fleet_is_the_smallest_that_reaches_the_wait() -> None:
    trace, timing = traces.named("burst100"), shipped_timing(1.0, 60)
    runs: dict = {}
    hindsight = cheapest_fixed_fleet(trace, 84.0, 19, runs, **timing)
    assert hindsight.report is not None and hindsight.report.policy == "fixed-4"
    assert runs[3].wait_p95 > 84.5  # one fewer misses it
    assert cheapest_fixed_fleet(trace, 10.0, 19, runs, **timing).report is None  # the boot alone is 60 s


def test_csv_service_times_are_replayed(tmp_path) -> None:
    path = tmp_path / "recorded.csv"
    path.write_text("t,count,service\n0,10,2.0\n0.2,10,\n")
    trace = traces.load(str(path))
    assert trace.service is not None and trace.service(0, 0.5) == (20.0, 10)  # the untimed row takes the default
    slow = simulate(StepPolicy(0, 1), trace, service_time=0.1, boot_seconds=0)
    assert slow.served == 20
    assert slow.wait_max == pytest.approx(21.0, abs=1.0)  # 20 s of timed work and 1 s of the rest, one worker


def test_a_non_positive_csv_service_time_is_refused(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("t,service\n0,-1\n")
    with pytest.raises(ValueError, match="service times must be positive"):
        traces.load(str(path))
