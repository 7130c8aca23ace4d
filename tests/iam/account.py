"""The account behind a recorded run (a moto server), as the authorisation of its calls needs it, and the roles'
credentials each tier runs with: STS AssumeRole of the provisioned role, as an instance profile gives them."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import unquote

from tests.deploy.account import client
from tests.iam.authorization import Principal


class AccountWorld:
    """Read with the operator's credentials, after the run (moto keeps terminated instances and their tags)."""

    def __init__(self, endpoint: str, groups: dict[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.account = str(client(endpoint, "sts").get_caller_identity()["Account"])
        # Each instance's group, as seen while it ran: the group's tag goes with the instance when it leaves.
        self.groups = groups or {}

    @cache  # noqa: B019  # one per check; the account does not change under it
    def _instance(self, instance_id: str) -> dict[str, Any]:
        reservations = client(self.endpoint, "ec2").describe_instances(InstanceIds=[instance_id])["Reservations"]
        return dict(reservations[0]["Instances"][0])

    def instance_tags(self, instance_id: str) -> dict[str, str]:
        return {tag["Key"]: tag["Value"] for tag in self._instance(instance_id).get("Tags", [])}

    def group_arn(self, group_name: str) -> str:
        groups = client(self.endpoint, "autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])
        return str(groups["AutoScalingGroups"][0]["AutoScalingGroupARN"])

    def group_of_instance(self, instance_id: str) -> str:
        return self.groups.get(instance_id) or self.instance_tags(instance_id)["aws:autoscaling:groupName"]

    def launch_template(self, template: dict[str, str]) -> dict[str, Any]:
        key = "LaunchTemplateId" if "LaunchTemplateId" in template else "LaunchTemplateName"
        version = template.get("Version", "$Default")
        answer = client(self.endpoint, "ec2").describe_launch_template_versions(
            **{key: template[key]}, Versions=[version]
        )["LaunchTemplateVersions"][0]
        return {"LaunchTemplateId": answer["LaunchTemplateId"], "LaunchTemplateData": answer["LaunchTemplateData"]}

    def role_of_profile(self, profile: dict[str, str]) -> str:
        name = profile.get("Name") or profile["Arn"].rsplit("/", 1)[1]
        roles = client(self.endpoint, "iam").get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
        return str(roles[0]["RoleName"])

    def secret_arn(self, secret_id: str) -> str:
        return str(client(self.endpoint, "secretsmanager").describe_secret(SecretId=secret_id)["ARN"])

    def role_policy(self, role: str) -> dict[str, Any]:
        """The role's one inline policy, as provision attached it (placeholders filled in)."""
        document = client(self.endpoint, "iam").get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
        return dict(json.loads(unquote(document)) if isinstance(document, str) else document)


class RoleCredentials:
    """Hands out credentials of a role's sessions, and remembers whose each access key is."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.principals: dict[str, Principal] = {}

    def environment(self, role: str, session: str, instance_id: str = "") -> dict[str, str]:
        account = client(self.endpoint, "sts").get_caller_identity()["Account"]
        credentials = client(self.endpoint, "sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName=session, DurationSeconds=3600
        )["Credentials"]
        self.principals[credentials["AccessKeyId"]] = Principal(role, session, instance_id)
        return {
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "AWS_SESSION_TOKEN": credentials["SessionToken"],
        }
