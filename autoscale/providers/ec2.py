"""Workers as EC2 instances: one Celery worker per app instance, launched from a template or its parts.

Only instances carrying our fleet tag are ever counted or terminated. Each launch has its own ClientToken (AWS
makes a retried launch idempotent by it), instances are named `app-instance-<n>` with the lowest free numbers, and
`InstanceInitiatedShutdownBehavior=terminate` makes a worker that retires (powers off) go away for good.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from autoscale.providers.base import Instance, InstanceState, LaunchError
from autoscale.providers.ec2_boot import render_user_data, settings_environment, worker_environment

FLEET_TAG = "autoscale:fleet"
RETIRES_TAG = "autoscale:retires"
_NAME = re.compile(r"^app-instance-(\d+)$")


def user_data(retires: bool) -> str:
    """The app instance's bootstrap (autoscale/providers/ec2_boot.py): this deployment's environment, whether the
    worker may retire, then its unit. A worker that retires powers off, which terminates the instance."""
    return render_user_data(worker_environment(settings_environment(), retires=retires))


@dataclass
class Ec2Provider:
    ec2: Any
    fleet: str
    launch_template: str = ""
    image_id: str = ""
    instance_type: str = "t3.micro"
    security_group_ids: list[str] = field(default_factory=list)
    instance_profile: str = ""
    key_name: str = ""
    subnet_id: str = ""
    name: str = "ec2"

    @classmethod
    def from_settings(cls, ec2: Any) -> Ec2Provider:
        if not (settings.EC2_LAUNCH_TEMPLATE or settings.EC2_AMI_ID):
            raise ValueError("the ec2 provider needs EC2_LAUNCH_TEMPLATE or EC2_AMI_ID")
        return cls(
            ec2, settings.EC2_FLEET_TAG, settings.EC2_LAUNCH_TEMPLATE, settings.EC2_AMI_ID, settings.EC2_INSTANCE_TYPE,
            settings.EC2_SECURITY_GROUP_IDS, settings.EC2_INSTANCE_PROFILE, settings.EC2_KEY_NAME,
            settings.EC2_SUBNET_ID,
        )  # fmt: skip

    def instances(self) -> list[Instance]:
        return [self._instance(raw) for raw in self._describe(["pending", "running"])]

    def launch(self, count: int, *, retires: bool) -> list[Instance]:
        names = self._free_names(count)
        launched: list[Instance] = []
        for name in names:  # one call per instance: each gets its own Name tag
            try:
                response = self.ec2.run_instances(**self._launch_parameters(name, retires))
            except (BotoCoreError, ClientError) as exc:
                raise LaunchError(f"run_instances failed for {name}: {exc}", launched) from exc
            launched += [self._instance(raw) for raw in response["Instances"]]
        return launched

    def terminate(self, ids: list[str]) -> None:
        ours = {raw["InstanceId"] for raw in self._describe(["pending", "running", "stopping", "stopped"])}
        targets = [instance_id for instance_id in ids if instance_id in ours]
        if targets:
            self.ec2.terminate_instances(InstanceIds=targets)

    # --- internals ----------------------------------------------------------------------------------------------
    def _launch_parameters(self, name: str, retires: bool) -> dict[str, Any]:
        tags = [
            {"Key": "Name", "Value": name},
            {"Key": FLEET_TAG, "Value": self.fleet},
            {"Key": RETIRES_TAG, "Value": "true" if retires else "false"},
        ]
        parameters: dict[str, Any] = {
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": str(uuid.uuid4()),
            "InstanceInitiatedShutdownBehavior": "terminate",
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}],
            "UserData": user_data(retires),  # boto3 base64-encodes it
        }
        if self.launch_template:
            key = "LaunchTemplateId" if self.launch_template.startswith("lt-") else "LaunchTemplateName"
            parameters["LaunchTemplate"] = {key: self.launch_template}
        if self.image_id:
            parameters["ImageId"] = self.image_id
        if self.instance_type and not self.launch_template:
            parameters["InstanceType"] = self.instance_type
        if self.security_group_ids:
            parameters["SecurityGroupIds"] = self.security_group_ids
        if self.instance_profile:
            parameters["IamInstanceProfile"] = {"Name": self.instance_profile}
        if self.key_name:
            parameters["KeyName"] = self.key_name
        if self.subnet_id:
            parameters["SubnetId"] = self.subnet_id
        return parameters

    def _describe(self, states: list[str]) -> list[dict[str, Any]]:
        paginator = self.ec2.get_paginator("describe_instances")
        filters = [{"Name": f"tag:{FLEET_TAG}", "Values": [self.fleet]},
                   {"Name": "instance-state-name", "Values": states}]  # fmt: skip
        return [
            instance
            for page in paginator.paginate(Filters=filters)
            for reservation in page["Reservations"]
            for instance in reservation["Instances"]
        ]

    def _free_names(self, count: int) -> list[str]:
        used = set()
        for raw in self._describe(["pending", "running", "stopping", "stopped"]):
            match = _NAME.match(_tags(raw).get("Name", ""))
            if match:
                used.add(int(match[1]))
        free = (number for number in range(1, 10_000) if number not in used)
        return [f"app-instance-{next(free)}" for _ in range(count)]

    @staticmethod
    def _instance(raw: dict[str, Any]) -> Instance:
        state = InstanceState.RUNNING if raw["State"]["Name"] == "running" else InstanceState.PENDING
        return Instance(raw["InstanceId"], state, raw["LaunchTime"].timestamp(), _tags(raw).get(RETIRES_TAG) != "false")


def _tags(raw: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in raw.get("Tags", [])}
