"""Workers as the instances of an EC2 Auto Scaling group: the autoscaler sets the group's desired capacity, and AWS
does the launching, zone balancing, health replacement and, where the group asks for them, spot and mixed types.

The group (made by `manage.py provision --subnets ...`) protects new instances from scale-in, so AWS never picks a
busy worker when the desired count goes down. Capacity leaves the way it does with the ec2 provider: a worker
retires when idle, and on the way out its instance leaves the group with TerminateInstanceInAutoScalingGroup,
decrementing the desired capacity (autoscale/leave.py), so AWS does not replace it. Only a launch that has not
booted is ever ended by the autoscaler itself, the same way.

Workers that never retire (the autoscaler's minimum) are the one thing a group cannot tell apart: every instance
boots from the same template. So this provider runs with a minimum of 0; a floor belongs in the group's MinSize.

AWS lists a launch among the group's instances only some seconds after the desired capacity went up. Until then the
difference between the desired capacity and the instances listed is counted as launches under way (pending, under
the group's name), or the next tick would see no new capacity and raise the desired count again. Cancelling one of
those lowers the desired capacity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from autoscale.providers.base import Instance, InstanceState, LaunchError

_GONE = ("Terminat", "Detach", "Standby", "Warmed")  # lifecycle states that hold no worker of ours
UNLISTED = ":unlisted-"  # in the id of a launch AWS has not listed yet (see the docstring)


@dataclass
class AsgProvider:
    autoscaling: Any
    ec2: Any
    group: str
    name: str = "asg"

    @classmethod
    def from_settings(cls, autoscaling: Any, ec2: Any) -> AsgProvider:
        if not settings.AUTOSCALE_GROUP:
            raise ValueError("the asg provider needs AUTOSCALE_GROUP (manage.py provision --subnets prints it)")
        return cls(autoscaling, ec2, settings.AUTOSCALE_GROUP)

    def _describe(self) -> dict[str, Any]:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])
        if not groups["AutoScalingGroups"]:
            raise LookupError(f"no Auto Scaling group named {self.group}")
        group: dict[str, Any] = groups["AutoScalingGroups"][0]
        return group

    def instances(self) -> list[Instance]:
        group = self._describe()
        members = [m for m in group["Instances"] if not m["LifecycleState"].startswith(_GONE)]
        now = time.time()
        unlisted = max(0, group["DesiredCapacity"] - len(members))
        launching = [Instance(f"{self.group}{UNLISTED}{n}", InstanceState.PENDING, now) for n in range(unlisted)]
        if not members:
            return launching
        launched = {}
        ids = [member["InstanceId"] for member in members]
        for page in self.ec2.get_paginator("describe_instances").paginate(InstanceIds=ids):
            for reservation in page["Reservations"]:
                for raw in reservation["Instances"]:
                    launched[raw["InstanceId"]] = raw["LaunchTime"].timestamp()
        return [self._instance(member, launched.get(member["InstanceId"], 0.0)) for member in members] + launching

    @staticmethod
    def _instance(member: dict[str, Any], launched_at: float) -> Instance:
        state = InstanceState.RUNNING if member["LifecycleState"] == "InService" else InstanceState.PENDING
        return Instance(member["InstanceId"], state, launched_at)

    def launch(self, count: int, *, retires: bool) -> list[Instance]:
        if not retires:
            raise LaunchError("the asg provider has no workers that never retire: run it with --min 0 and put a "
                              "floor in the group's MinSize")  # fmt: skip
        try:
            group = self._describe()
            before = {member["InstanceId"] for member in group["Instances"]}
            desired = group["DesiredCapacity"] + count
            if desired > group["MaxSize"]:
                raise LaunchError(f"group {self.group} is at its MaxSize ({group['MaxSize']})")
            self.autoscaling.set_desired_capacity(AutoScalingGroupName=self.group, DesiredCapacity=desired,
                                                  HonorCooldown=False)  # fmt: skip
        except (BotoCoreError, ClientError, LookupError) as exc:
            raise LaunchError(f"set_desired_capacity failed for {self.group}: {exc}") from exc
        # AWS launches in the background; those already listed are reported (the rest appear on the next tick).
        return [instance for instance in self.instances() if instance.id not in before and UNLISTED not in instance.id]

    def terminate(self, ids: list[str]) -> None:
        group = self._describe()
        members = {member["InstanceId"] for member in group["Instances"]}
        unlisted = sum(1 for instance_id in ids if instance_id.startswith(f"{self.group}{UNLISTED}"))
        if unlisted:  # launches AWS has not listed yet: fewer of them
            desired = max(len(members), group["DesiredCapacity"] - unlisted)
            self.autoscaling.set_desired_capacity(AutoScalingGroupName=self.group, DesiredCapacity=desired,
                                                  HonorCooldown=False)  # fmt: skip
        for instance_id in ids:
            if instance_id in members:  # never anything outside our group
                self.autoscaling.terminate_instance_in_auto_scaling_group(
                    InstanceId=instance_id, ShouldDecrementDesiredCapacity=True
                )
