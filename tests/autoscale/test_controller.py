import pytest

from autoscale.controller import Controller, Decision, seconds_to_next_tick
from autoscale.policy import LatencyPolicy, Observation, StepPolicy
from autoscale.providers.fake import FakeProvider


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(messages: list[int], *, boot: float = 0.0, minimum: int = 0, maximum: int = 19, dry_run: bool = False):
    clock = Clock()
    provider = FakeProvider(clock, boot_seconds=boot)
    depth = {"visible": messages[0]}
    controller = Controller(
        StepPolicy(minimum, maximum), provider, lambda: (depth["visible"], 0), clock, dry_run=dry_run
    )
    return controller, provider, clock, depth


def test_launches_for_the_backlog_and_counts_pending_launches() -> None:
    controller, provider, clock, _ = make([20], boot=60)
    first = controller.tick()
    assert (first.action, first.desired, len(first.instance_ids)) == ("launch", 4, 4)
    clock.now += 10  # still booting: pending counts as capacity, no second launch
    second = controller.tick()
    assert (second.action, second.observation.pending) == ("hold", 4)
    assert provider.launches == 4


def test_never_above_max_and_replaces_dead_workers() -> None:
    controller, provider, _, _ = make([1000], maximum=3)
    assert len(controller.tick().instance_ids) == 3
    provider.kill(provider.instances()[0].id)
    decision = controller.tick()
    assert (decision.action, len(decision.instance_ids)) == ("launch", 1)
    assert len(provider.instances()) == 3


def test_scale_in_releases_only_booting_workers_and_awaits_retirement_of_running_ones() -> None:
    controller, provider, clock, depth = make([20], boot=60)
    controller.tick()
    clock.now += 61  # all four are running now
    depth["visible"] = 12
    assert controller.tick().action == "retire"  # desired 2 < 4, but running workers are never killed
    assert len(provider.instances()) == 4
    depth["visible"] = 40
    launched = controller.tick().instance_ids  # desired 8: four more, booting
    depth["visible"] = 12
    decision = controller.tick()
    assert decision.action == "terminate"
    assert sorted(decision.instance_ids) == sorted(launched)  # the booting ones, not the busy ones


def test_workers_that_hold_the_minimum_do_not_retire() -> None:
    controller, provider, _, _ = make([20], minimum=1)
    controller.tick()
    retires = sorted(instance.retires for instance in provider.instances())
    assert retires == [False, True, True, True]


def test_launch_errors_are_reported_with_the_partial_result() -> None:
    controller, provider, _, _ = make([50])
    provider.launch_limit = 3
    decision = controller.tick()
    assert decision.action == "error" and len(decision.instance_ids) == 3
    assert "only 3 of 10" in decision.error
    provider.launch_limit, provider.fail_launches = None, True
    assert controller.tick().action == "error"


def test_dry_run_changes_nothing() -> None:
    controller, provider, _, _ = make([50], dry_run=True)
    decision = controller.tick()
    assert (decision.action, decision.desired, decision.dry_run) == ("launch", 10, True)
    assert provider.instances() == []
    assert "desired=10 action=launch" in decision.line()


@pytest.mark.parametrize(
    ("observation", "pause"),
    [
        (Observation(visible=0, in_flight=0, running=0, pending=0), 1.0),  # idle at zero: look again soon
        (Observation(visible=3, in_flight=0, running=0, pending=0), 5.0),  # launching now; the next tick as usual
        (Observation(visible=0, in_flight=0, running=1, pending=0), 5.0),  # a worker is up: it takes what comes
        (Observation(visible=0, in_flight=0, running=0, pending=1), 5.0),
        (Observation(visible=0, in_flight=2, running=0, pending=0), 5.0),
    ],
)
def test_an_idle_fleet_at_zero_looks_again_within_a_second(observation: Observation, pause: float) -> None:
    decision = Decision(0.0, observation, desired=0, action="hold")
    assert seconds_to_next_tick(decision, interval=5.0, idle_interval=1.0) == pause
    assert seconds_to_next_tick(decision, interval=0.5, idle_interval=1.0) == 0.5  # never slower than the interval


def test_boot_times_are_measured_and_the_policy_belief_is_reported() -> None:
    clock = Clock()
    provider = FakeProvider(clock, boot_seconds=12)
    policy = LatencyPolicy(0, 19, target_wait=30, service_prior=1.0, boot_prior=60.0)
    reads = iter([(100, None), (0, 0.5), (0, 0.5)])
    controller = Controller(policy, provider, lambda: (100, 0), clock, demand=lambda: next(reads))
    first = controller.tick()
    assert first.action == "launch" and first.belief is not None and first.belief.boot_seconds == 60
    clock.now += 5
    assert controller.tick().observation.booted == ()  # still booting
    clock.now += 10
    third = controller.tick()
    assert third.observation.booted == (12.0,) * len(first.instance_ids)  # launch to ready, as the provider says
    assert third.belief is not None and third.belief.boot_seconds < 60 and third.belief.service_seconds < 1.0
    assert "service=" in third.line() and "boot=" in third.line()


def test_a_demand_that_cannot_be_read_decides_nothing() -> None:
    clock = Clock()
    provider = FakeProvider(clock)

    def unreadable() -> tuple[int, float | None]:
        raise ConnectionError("database away")

    controller = Controller(LatencyPolicy(), provider, lambda: (50, 0), clock, demand=unreadable)
    with pytest.raises(ConnectionError):
        controller.tick()
    assert provider.instances() == []


def test_warm_starts_are_timed_apart_from_cold_launches() -> None:
    clock = Clock()
    provider = FakeProvider(clock, boot_seconds=60, warm_pool=1, warm_boot_seconds=10)
    policy = LatencyPolicy(0, 19, target_wait=30, service_prior=1.0, boot_prior=60.0, warm_boot_prior=20.0)
    controller = Controller(policy, provider, lambda: (100, 0), clock)
    first = controller.tick()
    assert first.observation.warm_ready == 1
    # One warm start, which works 40 s (a 20 s warm boot believed) before a cold launch is up: one cold launch more.
    assert first.action == "launch" and len(first.instance_ids) == 2
    clock.now += 10
    second = controller.tick()
    assert (second.observation.warm_booted, second.observation.booted) == ((10.0,), ())
    assert second.belief is not None and (second.belief.warm_boot_seconds, second.belief.boot_seconds) == (10, 60)
    assert "warm boot=10s" in second.line()
    clock.now += 50
    assert controller.tick().observation.booted == (60.0,)
