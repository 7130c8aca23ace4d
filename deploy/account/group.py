"""An Auto Scaling group from a launch template's default version, across the given subnets (AWS spreads instances
across their zones).

The workers' group, for the asg provider: min 0, the autoscaler's cap as max, and new instances protected from
scale-in, so AWS never ends a busy worker when the desired count goes down; provision never changes its desired
capacity (that is the autoscaler's). The web hosts' group: exactly `--web-hosts` of them, registered with the load
balancer's target group and replaced when its health check (GET /readyz) fails."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from deploy.account.reconcile import carries


@dataclass
class AutoScalingGroup:
    autoscaling: Any
    name: str
    launch_template_id: str
    subnets: list[str]
    max_size: int
    tags: dict[str, str]
    kind: str = "Auto Scaling group"
    fixed_size: bool = False  # the web hosts' group: min = max = desired, provision's to set
    target_group_arns: list[str] = field(default_factory=list)
    grace_seconds: int = 300  # a new web host's boot (configuration, migrations) before its health counts

    def settings(self) -> dict[str, Any]:
        common = {
            "LaunchTemplate": {"LaunchTemplateId": self.launch_template_id, "Version": "$Default"},
            "MaxSize": self.max_size,
            "VPCZoneIdentifier": ",".join(self.subnets),
        }
        if self.fixed_size:
            return {**common, "MinSize": self.max_size, "DesiredCapacity": self.max_size, "HealthCheckType": "ELB",
                    "HealthCheckGracePeriod": self.grace_seconds,
                    "NewInstancesProtectedFromScaleIn": False}  # fmt: skip
        return {**common, "MinSize": 0, "NewInstancesProtectedFromScaleIn": True}

    def _tag_list(self) -> list[dict[str, Any]]:
        return [{"Key": key, "Value": value, "PropagateAtLaunch": False, "ResourceId": self.name,
                 "ResourceType": "auto-scaling-group"} for key, value in self.tags.items()]  # fmt: skip

    def describe(self) -> dict[str, Any] | None:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.name])["AutoScalingGroups"]
        return groups[0] if groups else None

    def differences(self, current: dict[str, Any]) -> list[str]:
        found = []
        for key, value in self.settings().items():
            have = current.get(key)
            if key == "LaunchTemplate":
                have = {k: (have or {}).get(k) for k in value}
            if key == "VPCZoneIdentifier":
                have, value = set(str(have or "").split(",")), set(value.split(","))
            if have != value:
                found.append(key)
        if set(current.get("TargetGroupARNs", [])) != set(self.target_group_arns):
            found.append("target groups")
        tags = {t["Key"]: t["Value"] for t in current.get("Tags", [])}
        if not carries(tags, self.tags):
            found.append("tags")
        return found

    def create(self) -> dict[str, Any]:
        settings = {"DesiredCapacity": 0, **self.settings()}
        self.autoscaling.create_auto_scaling_group(AutoScalingGroupName=self.name, Tags=self._tag_list(),
                                                   TargetGroupARNs=self.target_group_arns, **settings)  # fmt: skip
        return self._described()

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        self.autoscaling.update_auto_scaling_group(AutoScalingGroupName=self.name, **self.settings())
        have, want = set(current.get("TargetGroupARNs", [])), set(self.target_group_arns)
        if want - have:
            self.autoscaling.attach_load_balancer_target_groups(AutoScalingGroupName=self.name,
                                                                TargetGroupARNs=sorted(want - have))  # fmt: skip
        if have - want:
            self.autoscaling.detach_load_balancer_target_groups(AutoScalingGroupName=self.name,
                                                                TargetGroupARNs=sorted(have - want))  # fmt: skip
        self.autoscaling.create_or_update_tags(Tags=self._tag_list())
        return self._described()

    def _described(self) -> dict[str, Any]:
        current = self.describe()
        assert current is not None, f"Auto Scaling group {self.name} vanished right after it was made"
        return current

    def identity(self, current: dict[str, Any]) -> str:
        return str(current.get("AutoScalingGroupARN") or self.name)

    def is_ours(self, current: dict[str, Any]) -> bool:
        tags = {t["Key"]: t["Value"] for t in current.get("Tags", [])}
        return carries(tags, self.tags)

    def delete(self, current: dict[str, Any], patience: float = 600.0) -> None:
        """ForceDelete ends its instances too; the launch template and security groups can go only once it is gone."""
        self.autoscaling.delete_auto_scaling_group(AutoScalingGroupName=self.name, ForceDelete=True)
        deadline = time.monotonic() + patience
        while self.describe() is not None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Auto Scaling group {self.name} still being deleted after {patience:.0f} s")
            time.sleep(5)
