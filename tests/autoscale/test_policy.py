import pytest

from autoscale.policy import Observation, StepPolicy, TargetPolicy, make_policy


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
