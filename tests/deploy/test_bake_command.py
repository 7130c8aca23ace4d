"""`manage.py bake` against moto's server, with this test playing the builder instance: a failed build says why
and leaves no builder running; a build that reports success is imaged, tagged with its release, and found again by
the next bake of the same release instead of building twice. (EC2 in a box plays a builder that runs bake.sh.)"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from deploy.bake import RELEASE_TAG, ROLE_TAG
from tests.conftest import ROOT
from tests.deploy.account import client, leftovers
from tests.deploy.test_provision import _env, manage


@pytest.fixture(scope="module")
def image(endpoint: str) -> str:
    """The base image: one moto lists."""
    return str(client(endpoint, "ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


def _builder(endpoint: str, prefix: str, timeout: float = 60) -> dict[str, Any]:
    ec2 = client(endpoint, "ec2")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        filters = [{"Name": f"tag:{ROLE_TAG}", "Values": ["builder"]},
                   {"Name": "tag:classifier:deployment", "Values": [prefix]},
                   {"Name": "instance-state-name", "Values": ["pending", "running"]}]  # fmt: skip
        found = [i for r in ec2.describe_instances(Filters=filters)["Reservations"] for i in r["Instances"]]
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError("no builder was launched")


def _play_builder(endpoint: str, prefix: str, report: str, then: Callable[[Any, str], None]) -> threading.Thread:
    """Report `report` on the status URL the builder's user data names, then `then(ec2, instance)`."""

    def play() -> None:
        builder = _builder(endpoint, prefix)
        ec2 = client(endpoint, "ec2")
        answer = ec2.describe_instance_attribute(InstanceId=builder["InstanceId"], Attribute="userData")
        user_data = base64.b64decode(answer["UserData"]["Value"]).decode()
        status_url = re.search(r'--data-binary @- "([^"]+)"', user_data)
        assert status_url, user_data
        assert httpx.put(status_url[1], content=report.encode()).status_code == 200
        then(ec2, builder["InstanceId"])

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def _bake(endpoint: str, tmp_path: Any, prefix: str, image: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "bake", "--prefix", prefix, "--base-ami", image,
                           "--timeout", "120"], cwd=ROOT, env=_env(endpoint, tmp_path), capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def _alive_builders(endpoint: str, prefix: str) -> list[str]:
    filters = [{"Name": "tag:classifier:deployment", "Values": [prefix]},
               {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]  # fmt: skip
    reservations = client(endpoint, "ec2").describe_instances(Filters=filters)["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


def test_a_failed_build_says_why_and_leaves_no_builder(endpoint, tmp_path, image) -> None:
    prefix = f"b{uuid.uuid4().hex[:8]}"
    player = _play_builder(endpoint, prefix, "status=2\nbake.sh: make venv failed: no space left on device\n",
                           lambda ec2, instance: ec2.stop_instances(InstanceIds=[instance]))  # fmt: skip
    done = _bake(endpoint, tmp_path, prefix, image)
    player.join(timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    error = done.stderr.strip()
    assert error.startswith("CommandError: bake failed: bake.sh failed on builder i-"), error
    assert "(status=2)" in error and "no space left on device" in error and "Traceback" not in error
    assert _alive_builders(endpoint, prefix) == []
    images = client(endpoint, "ec2").describe_images(Owners=["self"], Filters=[
        {"Name": "tag:classifier:deployment", "Values": [prefix]}])["Images"]  # fmt: skip
    assert images == []
    assert manage(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes").returncode == 0
    assert leftovers(endpoint, prefix) == []


def test_a_built_release_is_imaged_tagged_and_reused(endpoint, tmp_path, image) -> None:
    prefix = f"b{uuid.uuid4().hex[:8]}"
    player = _play_builder(endpoint, prefix, "status=0\nbake.sh: done\n",
                           lambda ec2, instance: ec2.stop_instances(InstanceIds=[instance]))  # fmt: skip
    first = _bake(endpoint, tmp_path, prefix, image)
    player.join(timeout=30)
    assert first.returncode == 0, first.stdout + first.stderr
    made = first.stdout.strip().splitlines()[-1].removeprefix("image: ")
    [described] = client(endpoint, "ec2").describe_images(ImageIds=[made])["Images"]
    tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert tags["classifier:deployment"] == prefix and tags[RELEASE_TAG].startswith(commit)
    assert _alive_builders(endpoint, prefix) == []

    again = _bake(endpoint, tmp_path, prefix, image)  # no builder played: none may be launched
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"has its image already: {made}" in again.stdout and again.stdout.strip().endswith(f"image: {made}")

    removed = manage(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes")
    assert f"deleted       image {made}" in removed.stdout, removed.stdout
    assert leftovers(endpoint, prefix) == []
