"""One percentile for every figure: linear between the nearest ranks, and weights that count a value that often."""

import pytest

from common.percentiles import percentile, percentiles, summarize


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100..1, unsorted on purpose
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentiles(values, [0, 100]) == [1.0, 100.0]


def test_one_value_is_every_percentile_and_none_is_an_error() -> None:
    assert percentile([3.5], 99) == 3.5
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)


@pytest.mark.parametrize("q", [0, 10, 25, 50, 62.5, 90, 95, 99, 100])
def test_weights_count_like_repeated_values(q: float) -> None:
    values, weights = [4.0, 1.0, 9.0, 2.5], [3, 1, 2, 5]
    repeated = [value for value, weight in zip(values, weights, strict=True) for _ in range(weight)]
    assert percentile(values, q, weights) == pytest.approx(percentile(repeated, q))


def test_values_without_weight_count_for_nothing() -> None:
    assert percentile([1.0, 50.0, 2.0], 100, [1, 0, 1]) == 2.0
    with pytest.raises(ValueError, match="no values"):
        percentile([1.0], 50, [0])


def test_summarize_sorts_first_and_counts() -> None:
    summary = summarize([9.0, 1.0, 5.0])
    assert (summary.count, summary.p50) == (3, 5.0)
    assert summarize([]) == summarize(iter([]))
    assert (summarize([]).count, summarize([]).p95) == (0, None)
