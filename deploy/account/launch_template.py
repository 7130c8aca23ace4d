"""The workers' launch template: the baked image, instance type, instance profile, security group, shutdown
behaviour `terminate`, IMDSv2 only, an encrypted root volume, tags, and the user data of
autoscale/providers/ec2_boot.py. A change is a new version made the default (with the full data: a version made
from a source version inherits nothing on some endpoints), so instances already running keep theirs."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from autoscale.providers.ec2 import FLEET_TAG
from deploy.account.reconcile import carries

# The venv with torch, the model and the OS fit in 8 GiB with little to spare; gp3 at 16 GiB costs about $1.3 a
# month for each instance while it exists, and workers exist only while there is work.
ROOT_VOLUME_GIB = 16


class ImageNotFound(RuntimeError):
    pass


def _contains(have: Any, want: Any) -> bool:
    """Whether `have` holds everything `want` says (AWS fills in fields we did not set)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_contains(have.get(key), value) for key, value in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(have) == len(want) and all(map(_contains, have, want))
    return bool(have == want)


def _tags_by_type(specifications: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {spec["ResourceType"]: {t["Key"]: t["Value"] for t in spec.get("Tags", [])} for spec in specifications}


@dataclass
class LaunchTemplate:
    ec2: Any
    name: str
    image_id: str
    instance_type: str
    instance_profile: str
    security_group_ids: list[str]
    user_data: str
    fleet: str
    tags: dict[str, str]
    kind: str = "launch template"
    _root_device: str = field(default="", init=False, repr=False)

    def data(self) -> dict[str, Any]:
        instance_tags = [{"Key": FLEET_TAG, "Value": self.fleet}, *self._tag_list()]
        return {
            "ImageId": self.image_id,
            "InstanceType": self.instance_type,
            "IamInstanceProfile": {"Name": self.instance_profile},
            "SecurityGroupIds": self.security_group_ids,
            "InstanceInitiatedShutdownBehavior": "terminate",
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
            "BlockDeviceMappings": [{"DeviceName": self.root_device(), "Ebs": {
                "Encrypted": True, "VolumeSize": ROOT_VOLUME_GIB, "VolumeType": "gp3", "DeleteOnTermination": True}}],
            # Volumes carry the fleet tag too: the web host's role may tag at launch only what carries it.
            "TagSpecifications": [{"ResourceType": "instance", "Tags": instance_tags},
                                  {"ResourceType": "volume", "Tags": instance_tags}],
            "UserData": base64.b64encode(self.user_data.encode()).decode(),
        }  # fmt: skip

    def root_device(self) -> str:
        """Ubuntu's images boot from /dev/sda1, Amazon Linux's from /dev/xvda: the image says which."""
        if not self._root_device:
            try:
                images = self.ec2.describe_images(ImageIds=[self.image_id])["Images"]
            except ClientError as exc:
                if "NotFound" in exc.response["Error"]["Code"] or "Malformed" in exc.response["Error"]["Code"]:
                    images = []
                else:
                    raise
            if not images:
                raise ImageNotFound(f"image {self.image_id} does not exist in this region (deploy/worker/ bakes one)")
            self._root_device = images[0].get("RootDeviceName") or "/dev/xvda"
        return self._root_device

    def _tag_list(self) -> list[dict[str, str]]:
        return [{"Key": key, "Value": value} for key, value in self.tags.items()]

    def describe(self) -> dict[str, Any] | None:
        try:
            template = self.ec2.describe_launch_templates(LaunchTemplateNames=[self.name])["LaunchTemplates"][0]
        except ClientError as exc:
            if "NotFound" in exc.response["Error"]["Code"]:
                return None
            raise
        versions = self.ec2.describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"], Versions=["$Default"]
        )["LaunchTemplateVersions"]
        version = versions[0]
        return {"template": template, "data": version["LaunchTemplateData"]}

    def differences(self, current: dict[str, Any]) -> list[str]:
        have = dict(current["data"])
        # Compared by resource type: moto files the template's own tags among the version's (AWS does not).
        have["TagSpecifications"] = _tags_by_type(have.get("TagSpecifications", []))
        want = {**self.data(), "TagSpecifications": _tags_by_type(self.data()["TagSpecifications"])}
        found = [key for key, value in want.items() if not _contains(have.get(key), value)]
        tags = {t["Key"]: t["Value"] for t in current["template"].get("Tags", [])}
        if not carries(tags, self.tags):
            found.append("tags")
        return found

    def create(self) -> dict[str, Any]:
        template = self.ec2.create_launch_template(
            LaunchTemplateName=self.name, LaunchTemplateData=self.data(),
            VersionDescription="manage.py provision",
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": self._tag_list()}],
        )["LaunchTemplate"]  # fmt: skip
        return {"template": template, "data": self.data()}

    def update(self, current: dict[str, Any]) -> dict[str, Any]:
        template_id = current["template"]["LaunchTemplateId"]
        version = self.ec2.create_launch_template_version(
            LaunchTemplateId=template_id, LaunchTemplateData=self.data(), VersionDescription="manage.py provision"
        )["LaunchTemplateVersion"]["VersionNumber"]
        self.ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))
        self.ec2.create_tags(Resources=[template_id], Tags=self._tag_list())
        return {"template": current["template"], "data": self.data()}

    def identity(self, current: dict[str, Any]) -> str:
        return str(current["template"]["LaunchTemplateId"])

    def is_ours(self, current: dict[str, Any]) -> bool:
        tags = {t["Key"]: t["Value"] for t in current["template"].get("Tags", [])}
        return carries(tags, self.tags)

    def delete(self, current: dict[str, Any]) -> None:
        self.ec2.delete_launch_template(LaunchTemplateId=current["template"]["LaunchTemplateId"])
