"""The fake provider's warm pool, which the simulator prices: an Auto Scaling warm pool's rules, with a prepared
capacity (MaxGroupPreparedCapacity) and instance reuse on scale-in."""

import pytest

from autoscale.providers.base import InstanceState, WarmPool
from autoscale.providers.fake import FakeProvider


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pooled(size: int = 2) -> tuple[FakeProvider, Clock]:
    clock = Clock()
    return FakeProvider(clock, boot_seconds=60, warm_pool=size, warm_boot_seconds=10), clock


def test_launches_start_the_pool_first() -> None:
    provider, clock = pooled()
    assert isinstance(provider, WarmPool) and provider.warm_ready() == 2
    launched = provider.launch(3, retires=True)
    assert [instance.warm for instance in launched] == [True, True, False]
    assert provider.pool() == (0, 0)  # what it gave out serves: nothing to replace
    clock.now = 10
    states = {instance.id: (instance.state, instance.ready_at) for instance in provider.instances()}
    assert [states[instance.id] for instance in launched] == [
        (InstanceState.RUNNING, 10), (InstanceState.RUNNING, 10), (InstanceState.PENDING, None),
    ]  # fmt: skip
    assert (provider.launches, provider.warm_starts, provider.pool_launches) == (3, 2, 0)


def test_scale_in_returns_instances_up_to_the_pool_size_and_terminates_the_rest() -> None:
    provider, clock = pooled()
    first, second, third = provider.launch(3, retires=True)
    clock.now = 30
    provider.retire(first.id)  # two still in service: the pool's size is 0, so this one is terminated
    assert provider.pool() == (0, 0)
    provider.terminate([third.id])  # cancelled while booting: back, ready once its boot would have ended (60 s)
    assert provider.pool() == (0, 1)
    provider.retire(second.id)
    assert provider.pool() == (1, 1)
    clock.now = 60
    assert provider.warm_ready() == 2 and provider.pool_launches == 0  # reused, none launched into the pool


def test_a_reclaimed_instance_leaves_a_gap_the_pool_fills_cold() -> None:
    provider, clock = pooled()
    (worker,) = provider.launch(1, retires=True)
    provider.kill(worker.id)  # a spot reclaim: the instance is gone, not stopped
    assert provider.instances() == [] and provider.pool() == (1, 1)
    assert provider.pool_launches == 1
    clock.now = 60
    assert provider.warm_ready() == 2


def test_without_a_pool_every_launch_is_cold() -> None:
    clock = Clock()
    provider = FakeProvider(clock, boot_seconds=5)
    assert not any(instance.warm for instance in provider.launch(2, retires=True))
    assert provider.warm_ready() == 0 and provider.pool() == (0, 0)
    with pytest.raises(ValueError, match="cannot be negative"):
        FakeProvider(clock, warm_pool=-1)
