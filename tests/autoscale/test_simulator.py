import time

import numpy as np
import pytest

from autoscale import chart, traces
from autoscale.policy import StepPolicy, TargetPolicy
from autoscale.simulator import simulate


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
