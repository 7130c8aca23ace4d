"""The asg provider between a desired capacity going up and AWS listing the launches: counted as pending, so the
next tick does not launch them again; a cancelled one lowers the desired capacity. (moto lists a group's launches at
once, so this gap is played here by a stand-in for the Auto Scaling API; tests/integration/test_ec2_in_a_box.py
drives the provider against moto.)"""

from __future__ import annotations

from typing import Any

from autoscale.controller import Controller
from autoscale.policy import StepPolicy
from autoscale.providers.asg import AsgProvider
from autoscale.providers.base import InstanceState


class SlowToListGroup:
    """An Auto Scaling group whose new instances are not listed until `list_launches()`."""

    def __init__(self, max_size: int = 10) -> None:
        self.desired = 0
        self.max_size = max_size
        self.listed: list[dict[str, str]] = []

    def describe_auto_scaling_groups(self, AutoScalingGroupNames: list[str]) -> dict[str, Any]:  # noqa: N803
        group = {"DesiredCapacity": self.desired, "MaxSize": self.max_size, "Instances": list(self.listed)}
        return {"AutoScalingGroups": [group]}

    def set_desired_capacity(self, AutoScalingGroupName: str, DesiredCapacity: int, HonorCooldown: bool) -> None:  # noqa: N803
        self.desired = DesiredCapacity

    def list_launches(self) -> None:
        while len(self.listed) < self.desired:
            self.listed.append({"InstanceId": f"i-{len(self.listed)}", "LifecycleState": "Pending"})


class NoEc2:
    def get_paginator(self, name: str) -> Any:
        class Pages:
            def paginate(self, InstanceIds: list[str]) -> list[dict[str, Any]]:  # noqa: N803
                instances = [{"InstanceId": instance_id, "LaunchTime": _Time()} for instance_id in InstanceIds]
                return [{"Reservations": [{"Instances": instances}]}]

        return Pages()


class _Time:
    def timestamp(self) -> float:
        return 1000.0


def test_launches_aws_has_not_listed_yet_count_as_pending_and_are_not_launched_again() -> None:
    group = SlowToListGroup()
    provider = AsgProvider(group, NoEc2(), "workers")
    controller = Controller(StepPolicy(0, 10), provider, lambda: (12, 0), lambda: 1000.0)
    assert controller.tick().action == "launch"
    assert group.desired == 2
    assert [(i.state, "unlisted" in i.id) for i in provider.instances()] == [(InstanceState.PENDING, True)] * 2
    assert controller.tick().action == "hold"  # not 4
    group.list_launches()
    assert controller.tick().action == "hold"
    assert group.desired == 2 and [i.id for i in provider.instances()] == ["i-0", "i-1"]


def test_cancelling_an_unlisted_launch_lowers_the_desired_capacity() -> None:
    group = SlowToListGroup()
    provider = AsgProvider(group, NoEc2(), "workers")
    provider.launch(3, retires=True)
    unlisted = [instance.id for instance in provider.instances()]
    provider.terminate(unlisted[:2])
    assert group.desired == 1
