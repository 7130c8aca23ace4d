"""`manage.py bake`: the service's image, built from this checkout on a builder instance.

The release archive goes to the deployment's artifacts bucket; a builder instance from the base image (Amazon Linux
2023 by default) fetches it and runs deploy/worker/bake.sh (its user data: deploy/worker/builder-user-data.sh),
reports how that went to a status object, and powers off; the command then images the stopped builder, tags the
image with the release, and terminates the builder whatever happened. A release that has its image already gets
that one back without a build. The two URLs in the user data are presigned for this build: the builder has no role.
"""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings

from deploy.account.buckets import Bucket
from deploy.account.names import OWNER_TAG, Names
from deploy.account.reconcile import Ledger, ensure
from deploy.release import Release

BUILDER_USER_DATA = Path(settings.BASE_DIR) / "deploy" / "worker" / "builder-user-data.sh"
BASE_IMAGE_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
RELEASE_TAG = "classifier:release"
ROLE_TAG = "classifier:role"
ROOT_VOLUME_GIB = 16


class BakeFailed(RuntimeError):
    pass


@dataclass
class Bake:
    names: Names
    region: str
    client: Callable[[str], Any]
    release: Release
    base_image: str = ""
    instance_type: str = "t3.large"  # pip and torch's wheels want memory; a few minutes of it cost cents
    subnet_id: str = ""
    timeout: float = 3600.0
    poll_seconds: float = 5.0
    say: Callable[[str], None] = print

    def existing(self) -> str | None:
        filters = [{"Name": f"tag:{RELEASE_TAG}", "Values": [self.release.name]},
                   {"Name": f"tag:{OWNER_TAG}", "Values": [self.names.prefix]},
                   {"Name": "state", "Values": ["available", "pending"]}]  # fmt: skip
        images = self.client("ec2").describe_images(Owners=["self"], Filters=filters)["Images"]
        return str(images[0]["ImageId"]) if images else None

    def run(self) -> str:
        found = self.existing()
        if found:
            self.say(f"release {self.release.name} has its image already: {found}")
            return found
        s3, ec2 = self.client("s3"), self.client("ec2")
        bucket = self.names.artifacts_bucket
        ensure(Bucket(s3, bucket, self.region, self.names.tags()), Ledger(), dry_run=False)
        archive_key = f"releases/{self.release.name}.tar.gz"
        s3.put_object(Bucket=bucket, Key=archive_key, Body=self.release.archive)
        self.say(
            f"release {self.release.name}: {len(self.release.archive) / 1e6:.1f} MB in s3://{bucket}/{archive_key}"
        )
        status_key = f"builds/{self.release.name}/{uuid.uuid4().hex}.status"
        expires = int(self.timeout) + 600
        archive_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": archive_key},
                                                ExpiresIn=expires)  # fmt: skip
        status_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": status_key},
                                               ExpiresIn=expires)  # fmt: skip
        user_data = BUILDER_USER_DATA.read_text().replace("@ARCHIVE_URL@", archive_url)
        user_data = user_data.replace("@STATUS_URL@", status_url)
        builder = self._launch(ec2, user_data)
        self.say(f"builder {builder} launched from {self.base()}: running deploy/worker/bake.sh")
        try:
            self._wait_for_status(s3, ec2, bucket, status_key, builder)
            ec2.get_waiter("instance_stopped").wait(
                InstanceIds=[builder], WaiterConfig={"Delay": 5, "MaxAttempts": 120}
            )
            image = self._image(ec2, builder)
        finally:
            ec2.terminate_instances(InstanceIds=[builder])
            self.say(f"builder {builder} terminated")
        return image

    def base(self) -> str:
        if not self.base_image:
            parameter = self.client("ssm").get_parameter(Name=BASE_IMAGE_PARAMETER)["Parameter"]
            self.base_image = str(parameter["Value"])
        return self.base_image

    def _launch(self, ec2: Any, user_data: str) -> str:
        images = ec2.describe_images(ImageIds=[self.base()])["Images"]
        root = images[0].get("RootDeviceName") or "/dev/xvda" if images else "/dev/xvda"
        tags = [{"Key": "Name", "Value": f"{self.names.prefix}-builder"}, {"Key": ROLE_TAG, "Value": "builder"},
                {"Key": RELEASE_TAG, "Value": self.release.name},
                *({"Key": k, "Value": v} for k, v in self.names.tags().items())]  # fmt: skip
        parameters: dict[str, Any] = {
            "ImageId": self.base(), "InstanceType": self.instance_type, "MinCount": 1, "MaxCount": 1,
            "UserData": user_data, "InstanceInitiatedShutdownBehavior": "stop",
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "BlockDeviceMappings": [{"DeviceName": root, "Ebs": {"VolumeSize": ROOT_VOLUME_GIB, "VolumeType": "gp3",
                                                                 "Encrypted": True, "DeleteOnTermination": True}}],
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}, {"ResourceType": "volume", "Tags": tags}],
        }  # fmt: skip
        if self.subnet_id:
            parameters["SubnetId"] = self.subnet_id
        return str(ec2.run_instances(**parameters)["Instances"][0]["InstanceId"])

    def _wait_for_status(self, s3: Any, ec2: Any, bucket: str, key: str, builder: str) -> None:
        """Until the builder reports; a builder that stops or ends without a report failed before it could."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                report = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace")
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                    raise
            else:
                first, _, log = report.partition("\n")
                if first.strip() != "status=0":
                    raise BakeFailed(f"bake.sh failed on builder {builder} ({first.strip()}); its output ends:\n{log}")
                return
            state = ec2.describe_instances(InstanceIds=[builder])["Reservations"][0]["Instances"][0]["State"]["Name"]
            if state in ("stopped", "terminated", "shutting-down"):
                raise BakeFailed(
                    f"builder {builder} {state} without reporting; its console:\n{self._console(ec2, builder)}"
                )
            if time.monotonic() > deadline:
                raise BakeFailed(f"builder {builder} did not report within {self.timeout:.0f} s; its console:\n"
                                 f"{self._console(ec2, builder)}")  # fmt: skip
            time.sleep(self.poll_seconds)

    @staticmethod
    def _console(ec2: Any, builder: str) -> str:
        try:
            output = ec2.get_console_output(InstanceId=builder, Latest=True).get("Output", "")
        except ClientError as exc:
            return f"(no console output: {exc})"
        with contextlib.suppress(ValueError):  # some endpoints hand the output over decoded already
            output = base64.b64decode(output, validate=True).decode(errors="replace")
        return output[-4000:] or "(empty)"

    def _image(self, ec2: Any, builder: str) -> str:
        tags = [{"Key": RELEASE_TAG, "Value": self.release.name},
                *({"Key": k, "Value": v} for k, v in self.names.tags().items())]  # fmt: skip
        name = f"{self.names.prefix}-{self.release.name[:40]}-{time.strftime('%Y%m%d-%H%M%S')}"
        image = ec2.create_image(
            InstanceId=builder,
            Name=name,
            NoReboot=True,
            Description=f"classifier release {self.release.name} (manage.py bake)",
        )["ImageId"]
        ec2.create_tags(Resources=[image], Tags=tags)  # tagged first: a failure below leaves it findable
        self.say(f"imaging builder {builder} as {image}")
        ec2.get_waiter("image_available").wait(ImageIds=[image], WaiterConfig={"Delay": 15, "MaxAttempts": 240})
        snapshots = [m["Ebs"]["SnapshotId"] for m in ec2.describe_images(ImageIds=[image])["Images"][0].get(
            "BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]  # fmt: skip
        if snapshots:  # what the image costs, findable by the same tags
            ec2.create_tags(Resources=snapshots, Tags=tags)
        return str(image)
