"""IAM roles and instance profiles for the workers and the web host, carrying the least-privilege policies of
deploy/iam/ (the same files, with the deployment's real names and ARNs filled in)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from django.conf import settings

from deploy.account.reconcile import carries

POLICIES = Path(settings.BASE_DIR) / "deploy" / "iam"
EC2_MAY_ASSUME = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def render_policy(file_name: str, values: dict[str, str]) -> dict[str, Any]:
    """One of deploy/iam/'s documents with its placeholders (REGION, ACCOUNT_ID, ...) replaced."""
    text = (POLICIES / file_name).read_text()
    for placeholder, value in sorted(values.items(), key=lambda item: -len(item[0])):  # longest first
        text = text.replace(placeholder, value)
    document: dict[str, Any] = json.loads(text)
    return document


def _not_found(iam: Any) -> type[Exception]:
    return iam.exceptions.NoSuchEntityException  # type: ignore[no-any-return]


@dataclass
class Role:
    iam: Any
    name: str
    policy: dict[str, Any]  # its one inline policy, named like the role
    tags: dict[str, str]
    kind: str = "IAM role"

    def describe(self) -> dict[str, Any] | None:
        try:
            role = self.iam.get_role(RoleName=self.name)["Role"]
        except _not_found(self.iam):
            return None
        try:
            policy = self.iam.get_role_policy(RoleName=self.name, PolicyName=self.name)["PolicyDocument"]
        except _not_found(self.iam):
            policy = None
        tags = {t["Key"]: t["Value"] for t in self.iam.list_role_tags(RoleName=self.name).get("Tags", [])}
        return {"role": role, "policy": _as_dict(policy), "tags": tags}

    def differences(self, current: dict[str, Any]) -> list[str]:
        found = []
        if _as_dict(current["role"].get("AssumeRolePolicyDocument")) != EC2_MAY_ASSUME:
            found.append("trust policy")
        if current["policy"] != self.policy:
            found.append("permissions")
        if not carries(current["tags"], self.tags):
            found.append("tags")
        return found

    def create(self) -> dict[str, Any]:
        role = self.iam.create_role(
            RoleName=self.name,
            AssumeRolePolicyDocument=json.dumps(EC2_MAY_ASSUME),
            Description="classifier deployment: see deploy/iam/README.md",
            Tags=[{"Key": key, "Value": value} for key, value in self.tags.items()],
        )["Role"]
        self.iam.put_role_policy(RoleName=self.name, PolicyName=self.name, PolicyDocument=json.dumps(self.policy))
        return {"role": role, "policy": self.policy, "tags": dict(self.tags)}

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        self.iam.update_assume_role_policy(RoleName=self.name, PolicyDocument=json.dumps(EC2_MAY_ASSUME))
        self.iam.put_role_policy(RoleName=self.name, PolicyName=self.name, PolicyDocument=json.dumps(self.policy))
        self.iam.tag_role(RoleName=self.name, Tags=[{"Key": key, "Value": value} for key, value in self.tags.items()])
        return {**current, "policy": self.policy, "tags": {**current["tags"], **self.tags}}

    def identity(self, current: dict[str, Any]) -> str:
        return str(current["role"]["Arn"])

    def is_ours(self, current: dict[str, Any]) -> bool:
        return carries(current["tags"], self.tags)

    def delete(self, current: dict[str, Any]) -> None:
        """IAM refuses to delete a role that still has policies or sits in an instance profile: those go first."""
        for name in self.iam.list_role_policies(RoleName=self.name)["PolicyNames"]:
            self.iam.delete_role_policy(RoleName=self.name, PolicyName=name)
        for attached in self.iam.list_attached_role_policies(RoleName=self.name)["AttachedPolicies"]:
            self.iam.detach_role_policy(RoleName=self.name, PolicyArn=attached["PolicyArn"])
        for profile in self.iam.list_instance_profiles_for_role(RoleName=self.name)["InstanceProfiles"]:
            self.iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"],
                                                       RoleName=self.name)  # fmt: skip
        self.iam.delete_role(RoleName=self.name)


@dataclass
class InstanceProfile:
    """Named like its role. Found by name: an instance profile's tags cannot be listed everywhere (moto lacks
    ListInstanceProfileTags), so it counts as ours when it holds our role and nothing else."""

    iam: Any
    name: str
    role: str
    kind: str = "instance profile"

    def describe(self) -> dict[str, Any] | None:
        try:
            profile: dict[str, Any] = self.iam.get_instance_profile(InstanceProfileName=self.name)["InstanceProfile"]
        except _not_found(self.iam):
            return None
        return profile

    def _roles(self, current: dict[str, Any]) -> list[str]:
        return [role["RoleName"] for role in current.get("Roles", [])]

    def differences(self, current: dict[str, Any]) -> list[str]:
        return [] if self._roles(current) == [self.role] else [f"role {self.role}"]

    def create(self) -> dict[str, Any]:
        self.iam.create_instance_profile(InstanceProfileName=self.name)
        self.iam.add_role_to_instance_profile(InstanceProfileName=self.name, RoleName=self.role)
        return self.iam.get_instance_profile(InstanceProfileName=self.name)["InstanceProfile"]  # type: ignore[no-any-return]

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        for role in self._roles(current):
            if role != self.role:
                self.iam.remove_role_from_instance_profile(InstanceProfileName=self.name, RoleName=role)
        if self.role not in self._roles(current):
            self.iam.add_role_to_instance_profile(InstanceProfileName=self.name, RoleName=self.role)
        return self.iam.get_instance_profile(InstanceProfileName=self.name)["InstanceProfile"]  # type: ignore[no-any-return]

    def identity(self, current: dict[str, Any]) -> str:
        return str(current["Arn"])

    def is_ours(self, current: dict[str, Any]) -> bool:
        return self._roles(current) in ([], [self.role])

    def delete(self, current: dict[str, Any]) -> None:
        for role in self._roles(current):
            self.iam.remove_role_from_instance_profile(InstanceProfileName=self.name, RoleName=role)
        self.iam.delete_instance_profile(InstanceProfileName=self.name)


def _as_dict(document: Any) -> Any:
    """boto3 decodes policy documents into dicts; some endpoints answer with the URL-encoded JSON text."""
    if isinstance(document, str):
        return json.loads(unquote(document))
    return document
