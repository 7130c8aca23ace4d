"""The EC2 provider against moto's server (real boto3 calls over HTTP). moto shows no `pending` state and never
runs user data; what it can show is tested here."""

from __future__ import annotations

import base64

import boto3
import pytest
from django.conf import settings

from autoscale.providers.base import InstanceState
from autoscale.providers.ec2 import FLEET_TAG, Ec2Provider

AMI = "ami-12c6146b"  # any id is accepted unless MOTO_ENABLE_AMI_VALIDATION is set


@pytest.fixture(scope="module")
def ec2(endpoint: str) -> object:
    return boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip


@pytest.fixture
def provider(ec2, request) -> Ec2Provider:
    return Ec2Provider(ec2, fleet=f"fleet-{request.node.name}"[:60], image_id=AMI, security_group_ids=[])


def _tags(ec2, instance_id: str) -> dict[str, str]:
    raw = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    return {tag["Key"]: tag["Value"] for tag in raw["Tags"]}


def test_launch_names_tags_and_shutdown_behaviour(ec2, provider: Ec2Provider) -> None:
    launched = provider.launch(2, retires=False) + provider.launch(1, retires=True)
    assert len(launched) == 3
    names = sorted(_tags(ec2, instance.id)["Name"] for instance in launched)
    assert names == ["app-instance-1", "app-instance-2", "app-instance-3"]
    assert [instance.retires for instance in launched] == [False, False, True]
    for instance in launched:
        assert _tags(ec2, instance.id)[FLEET_TAG] == provider.fleet
        attribute = "instanceInitiatedShutdownBehavior"
        behaviour = ec2.describe_instance_attribute(InstanceId=instance.id, Attribute=attribute)
        assert behaviour["InstanceInitiatedShutdownBehavior"]["Value"] == "terminate"
        user_data = ec2.describe_instance_attribute(InstanceId=instance.id, Attribute="userData")["UserData"]["Value"]
        script = base64.b64decode(user_data).decode()
        assert f"WORKER_RETIRE={str(instance.retires).lower()}\n" in script  # the provider's say, launch by launch
        visibility = f"SQS_VISIBILITY_TIMEOUT={settings.SQS_VISIBILITY_TIMEOUT}\n"
        assert "S3_INPUT_BUCKET=" in script and visibility in script  # this deployment's
        assert script.rstrip().endswith("systemctl enable --now classifier-worker.service")
    assert {i.state for i in provider.instances()} == {InstanceState.RUNNING}  # moto: running at once


def test_only_our_tagged_instances_are_counted_or_terminated(ec2, provider: Ec2Provider) -> None:
    foreign = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ours = provider.launch(2, retires=True)
    assert sorted(i.id for i in provider.instances()) == sorted(i.id for i in ours)
    provider.terminate([foreign, ours[0].id])
    assert [i.id for i in provider.instances()] == [ours[1].id]
    state = ec2.describe_instances(InstanceIds=[foreign])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"


def test_names_are_reused_after_termination(ec2, provider: Ec2Provider) -> None:
    first = provider.launch(2, retires=True)
    provider.terminate([first[0].id])
    again = provider.launch(1, retires=True)
    assert _tags(ec2, again[0].id)["Name"] == "app-instance-1"


def test_a_refused_launch_reports_what_started(ec2) -> None:
    from autoscale.providers.base import LaunchError

    provider = Ec2Provider(ec2, fleet="broken", image_id=AMI, instance_profile="no-such-profile")
    with pytest.raises(LaunchError) as caught:
        provider.launch(2, retires=True)
    assert caught.value.launched == []
