import pytest

from autoscale.policy import FixedFleet, LatencyPolicy, Observation, StepPolicy, TargetPolicy, make_policy


def backlog(messages: int, running: int = 0, pending: int = 0, in_flight: int = 0) -> Observation:
    return Observation(visible=messages - in_flight, in_flight=in_flight, running=running, pending=pending)


# The seed's table: messages -> workers, with min 0 and max 19.
STEP_TABLE = [(0, 0), (1, 1), (9, 1), (10, 2), (14, 2), (15, 3), (19, 3), (20, 4), (50, 10), (94, 18), (95, 19),
              (100, 19), (10_000, 19)]  # fmt: skip


@pytest.mark.parametrize(("messages", "workers"), STEP_TABLE)
def test_step_policy_follows_the_seed_table(messages: int, workers: int) -> None:
    assert StepPolicy(0, 19).desired(backlog(messages), now=0) == workers


def test_step_policy_counts_in_flight_messages() -> None:
    assert StepPolicy(0, 19).desired(backlog(12, in_flight=12), now=0) == 2


@pytest.mark.parametrize(
    ("minimum", "maximum", "messages", "workers"), [(2, 19, 0, 2), (2, 19, 5, 2), (0, 3, 100, 3), (1, 1, 0, 1)]
)
def test_step_policy_clamps(minimum: int, maximum: int, messages: int, workers: int) -> None:
    assert StepPolicy(minimum, maximum).desired(backlog(messages), now=0) == workers


TARGET_TABLE = [
    # messages, running, pending, desired   (target 5, min 0, max 19, activation 0, min_step 5)
    (0, 0, 0, 0),
    (1, 0, 0, 1),
    (5, 0, 0, 1),
    (6, 0, 0, 2),
    (100, 0, 0, 5),  # rate limit: at most 5 new from nothing
    (100, 5, 0, 10),  # then max(5, 1.0 x running) more
    (100, 10, 0, 19),  # ceil(100/5)=20, capped at max 19
    (100, 0, 19, 19),  # pending launches count: nothing more to launch
    (12, 3, 0, 3),
]


@pytest.mark.parametrize(("messages", "running", "pending", "workers"), TARGET_TABLE)
def test_target_policy_table(messages: int, running: int, pending: int, workers: int) -> None:
    assert TargetPolicy(0, 19, target=5).desired(backlog(messages, running, pending), now=0) == workers


def test_target_activation_threshold_only_applies_from_zero() -> None:
    policy = TargetPolicy(0, 19, target=5, activation=3)
    assert policy.desired(backlog(3), now=0) == 0
    assert policy.desired(backlog(4), now=1) == 1
    assert policy.desired(backlog(2, running=1), now=2) == 1  # once running, any backlog keeps a worker


def test_target_scale_in_waits_for_the_stabilisation_window() -> None:
    policy = TargetPolicy(0, 19, target=5, scale_in_window=60)
    assert policy.desired(backlog(50, running=10), now=0) == 10
    assert policy.desired(backlog(0, running=10), now=30) == 10  # still within 60 s of wanting 10
    assert policy.desired(backlog(10, running=10), now=59) == 10
    assert policy.desired(backlog(10, running=10), now=61) == 2  # 10 was 61 s ago; the last minute wanted <= 2
    assert policy.desired(backlog(0, running=2), now=200) == 0


def test_target_policy_respects_min_when_idle() -> None:
    assert TargetPolicy(2, 19).desired(backlog(0), now=0) == 2


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="0 <= min <= max"):
        StepPolicy(5, 2)
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("magic", 0, 19)


def latency(**kwargs) -> LatencyPolicy:
    return LatencyPolicy(0, 19, **{"target_wait": 30.0, "service_prior": 1.0, "boot_prior": 60.0, **kwargs})


@pytest.mark.parametrize(
    ("service", "boot", "workers"),
    [(0.08, 60, 1), (1.0, 60, 4), (0.08, 5, 1), (0.5, 30, 2)],
)
def test_latency_sizes_a_burst_from_zero_by_its_work(service: float, boot: float, workers: int) -> None:
    # 100 images of `service` seconds, drained within 30 s of the boot: ceil(100 x service / 30) workers.
    policy = latency(service_prior=service, boot_prior=boot)
    assert policy.desired(backlog(100), now=0) == workers
    belief = policy.belief()
    assert belief is not None and belief.desired == workers and belief.service_seconds == service


def test_latency_launches_nothing_for_an_empty_queue() -> None:
    policy = latency()
    assert policy.desired(backlog(0), now=0) == 0
    assert policy.belief().reason == "nothing queued"


def test_latency_holds_while_the_fleet_there_meets_the_target() -> None:
    policy = latency()
    assert policy.desired(backlog(100, pending=4), now=0) == 4
    assert policy.desired(backlog(80, running=4), now=30) == 4  # 3 would do, but 4 were wanted under a boot ago


def test_latency_launches_nothing_the_running_workers_outpace() -> None:
    # 100 images of 1 s want 4 workers for a 30 s wait, but the two running clear them in 50 s, before a worker
    # launched now could boot (60 s): a launch would only cost.
    policy = latency()
    assert policy.desired(backlog(100, running=2), now=0) == 2
    assert "before a launch could boot" in policy.belief().reason


def test_latency_learns_service_and_boot_times() -> None:
    policy = latency(service_prior=0.1, boot_prior=60.0)
    policy.desired(Observation(0, 0, 0, 0, arrived=0, service_seconds=1.1, booted=(30.0,)), now=0)
    belief = policy.belief()
    assert belief.service_seconds == pytest.approx(1.1)  # the first measurement replaces the prior
    assert belief.boot_seconds == pytest.approx(30.0)
    assert belief.warm_boot_seconds is None  # no warm pool seen
    policy.desired(Observation(0, 0, 0, 0, arrived=0, service_seconds=0.9, booted=(40.0,)), now=5)
    belief = policy.belief()
    assert (belief.service_seconds, belief.boot_seconds) == (pytest.approx(1.0), pytest.approx(35.0))


def test_latency_sizes_for_a_held_arrival_rate() -> None:
    policy = latency(service_prior=0.5, boot_prior=5.0)
    for tick in range(20):  # 10 images/s for a while, each taking a worker 0.5 s: 5 workers busy, 6 at 90%
        wanted = policy.desired(Observation(5, 5, 6, 0, arrived=50), now=tick * 5.0)
    assert wanted >= 6
    assert policy.belief().arrival_rate == pytest.approx(10.0)


def test_latency_scale_in_waits_a_boot_time() -> None:
    policy = latency(boot_prior=60.0)
    assert policy.desired(backlog(300, running=10), now=0) == 10
    assert policy.desired(backlog(1, running=10), now=30) == 10  # needed less for 30 s only: kept
    assert policy.desired(backlog(1, running=10), now=61) == 1


@pytest.mark.parametrize("target_wait", [0.0, -5.0])
def test_latency_refuses_a_nonsensical_target(target_wait: float) -> None:
    with pytest.raises(ValueError, match="target wait must be positive"):
        latency(target_wait=target_wait)


def test_make_policy_builds_the_latency_policy() -> None:
    policy = make_policy("latency", 1, 7, target_wait=12.0)
    assert isinstance(policy, LatencyPolicy)
    assert (policy.minimum, policy.maximum, policy.target_wait) == (1, 7, 12.0)
    assert policy.desired(backlog(0), now=0) == 1


def test_a_fixed_fleet_is_its_size_while_work_is_queued() -> None:
    fleet = FixedFleet(3)
    assert (fleet.name, fleet.maximum) == ("fixed-3", 3)
    assert fleet.desired(backlog(1), now=0) == 3
    assert fleet.desired(backlog(0, running=3), now=1) == 0


def test_latency_sizes_on_the_warm_start_while_the_pool_has_enough() -> None:
    policy = latency(warm_boot_prior=10.0)
    # From zero: 100 images of 1 s, drained within 30 s of a 10 s warm start: 4 workers, all from the pool.
    assert policy.desired(Observation(100, 0, 0, 0, warm_ready=6), now=0) == 4
    assert "10 s warm start" in policy.belief().reason
    assert policy.belief().warm_boot_seconds == 10.0


def test_a_warm_pool_makes_a_launch_worth_it_where_a_cold_one_is_not() -> None:
    # Two running workers clear 100 images of 1 s in 50 s, before a cold launch (60 s) could help; a warm start
    # (10 s) finds 80 left, which three workers drain within 30 s.
    assert latency().desired(backlog(100, running=2), now=0) == 2
    assert latency().desired(Observation(100, 0, 2, 0, warm_ready=1), now=0) == 3


def test_a_small_pool_starts_all_it_has_and_cold_launches_count_its_work() -> None:
    # 300 images of 1 s from zero: 10 workers drain them within 30 s of any boot. With 2 in the pool, those start
    # and clear 2 x 50 s before a cold launch is up: the cold ones are sized for the 200 left, 7 in all.
    assert latency().desired(backlog(300), now=0) == 10
    policy = latency()
    assert policy.desired(Observation(300, 0, 0, 0, warm_ready=2), now=0) == 7
    assert "200 left after a 60 s boot" in policy.belief().reason


def test_latency_learns_warm_and_cold_boots_apart() -> None:
    policy = latency(boot_prior=60.0, warm_boot_prior=10.0)
    policy.desired(Observation(0, 0, 2, 0, booted=(75.0,), warm_booted=(6.0,)), now=0)
    belief = policy.belief()
    assert (belief.boot_seconds, belief.warm_boot_seconds) == (75.0, 6.0)
