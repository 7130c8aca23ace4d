import pytest

from autoscale.estimates import ArrivalRate, Smoothed


def test_smoothed_moves_part_of_the_way_and_ignores_clock_artefacts() -> None:
    estimate = Smoothed(1.0, weight=0.3)
    estimate.add(3.0)
    estimate.add(1.0)
    assert estimate.value == 2.0  # the mean of the two samples: the prior only stood in until the first
    estimate.add(0.0)
    estimate.add(-1.0)
    assert estimate.value == 2.0
    estimate.add(4.0)
    estimate.add(4.0)
    estimate.add(4.0)
    assert estimate.value == pytest.approx(4 - 2 * (2 / 3) * 0.7 * 0.7)  # weights 1/3, then 0.3 (not 1/4, 1/5)
    with pytest.raises(ValueError, match="positive prior"):
        Smoothed(0.0)


def test_the_first_sample_replaces_the_prior() -> None:
    """A burst that starts from a wrong prior is sized on its first measurement, not several ticks later."""
    estimate = Smoothed(0.1)
    estimate.add(1.0)
    assert estimate.value == 1.0
    estimate.add(2.0)
    assert estimate.value == 1.5


def test_the_first_observation_only_starts_the_clock() -> None:
    rate = ArrivalRate(window=60)
    rate.add(0, 100)
    assert rate.per_second == 0.0


def test_a_steady_load_is_its_rate() -> None:
    rate = ArrivalRate(window=60)
    for tick in range(30):
        rate.add(tick * 5.0, 10)
    assert rate.per_second == pytest.approx(2.0)


def test_one_burst_is_not_a_rate() -> None:
    rate = ArrivalRate(window=60)
    rate.add(0, 0)
    rate.add(5, 100)  # a hundred images in one interval, then nothing
    rate.add(10, 0)
    assert rate.per_second == 0.0


def test_a_burst_straddling_several_quick_observations_is_not_a_rate() -> None:
    rate = ArrivalRate(window=60, hold=10)
    rate.add(0, 0)
    rate.add(1, 3)  # one-second looks while the fleet is at zero: the burst lands across three of them
    rate.add(2, 40)
    rate.add(3, 17)
    assert rate.per_second == 0.0


def test_a_rise_that_holds_for_ten_seconds_counts_at_once() -> None:
    rate = ArrivalRate(window=60)
    for tick in range(13):
        rate.add(tick * 5.0, 10)  # 2/s for a minute
    rate.add(65, 250)
    assert rate.per_second == pytest.approx(2.0)  # one interval: could be a burst
    rate.add(70, 250)
    assert rate.per_second == pytest.approx(50.0)  # held: a spike


def test_the_window_forgets_an_old_load() -> None:
    rate = ArrivalRate(window=60)
    for tick in range(13):
        rate.add(tick * 5.0, 50)
    for tick in range(13, 40):
        rate.add(tick * 5.0, 0)
    assert rate.per_second == 0.0


def test_observations_at_one_instant_carry_their_count() -> None:
    rate = ArrivalRate(window=5)
    rate.add(0, 0)
    rate.add(5, 0)
    rate.add(5, 10)  # no time has passed: these join the next interval
    rate.add(10, 10)
    assert rate.per_second == pytest.approx(4.0)
