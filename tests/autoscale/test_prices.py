import pytest

from autoscale.prices import VOLUME_HOURLY, Bill, Market, Prices


def test_each_run_is_billed_at_least_a_minute_and_its_volume_by_the_second() -> None:
    bill = Bill(Prices(on_demand=3.6, spot=1.8, volume=0.36))
    bill.run(Market.ON_DEMAND, 10)  # billed as 60 s of compute, 10 s of volume
    bill.run(Market.SPOT, 100)
    assert bill.dollars == pytest.approx((60 * 3.6 + 100 * 1.8 + 110 * 0.36) / 3600)


def test_a_stopped_instance_pays_its_volume_only() -> None:
    bill = Bill(Prices())
    bill.stopped(3600)
    assert bill.dollars == pytest.approx(VOLUME_HOURLY)
    assert pytest.approx(8 * 0.08 / 730) == VOLUME_HOURLY  # 8 GiB of gp3 at $0.08 per GiB-month


def test_the_defaults_are_stated_and_spot_is_thirty_percent() -> None:
    prices = Prices()
    assert (prices.on_demand, prices.hourly(Market.SPOT)) == (0.0416, pytest.approx(0.0416 * 0.3))


def test_negative_prices_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        Prices(spot=-1)
