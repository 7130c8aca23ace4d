"""EC2 in a box: the whole AWS loop against a moto server, from an empty account back to an empty account.

`manage.py provision` makes the deployment (with an Auto Scaling group); the web host's services run from their
units (deploy/web/) with provision's printed environment in production settings (the test database, S3 storage,
token auth); tests/instance_player.py plays every instance moto reports running, booting it from its own user data
and the worker unit. Two bursts of uploads go through the web tier: the first with the `ec2` provider (the autoscaler
runs instances itself; a retired worker powers its instance off, which the shutdown behaviour terminates), the second
with `asg` (the autoscaler sets the group's desired capacity; a retired worker leaves the group through
autoscale/leave.py). Each time the fleet grows with the queue, every request is answered once, and the fleet returns
to zero. Then `manage.py deprovision` leaves nothing of the prefix.

Shortened here: a worker retires after 5 s idle, not the default 40 s (autoscale/retire.py's rule is the same at any
length: tests/autoscale/test_retire.py; tests/integration/test_autoscale.py retires real workers after 6 s), and the
autoscaler ticks every 2 s, not 5 (the tick length is AUTOSCALE_INTERVAL, a setting of the host's env file).
"""

from __future__ import annotations

import base64
import secrets
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from classifier.models import FINISHED_STATUSES
from stack.embedded import HOST, LOCAL_CREDENTIALS
from stack.processes import ManagedProcess, free_port, stop_together, wait_for_port
from tests.conftest import IMAGES_DIR, ROOT
from tests.deploy.account import client, leftovers, printed_environment
from tests.iam.account import AccountWorld, RoleCredentials
from tests.iam.check import Tier, judge
from tests.iam.recording_endpoint import read as read_calls
from tests.instance_player import APP, SYSTEMD_BASE, InstancePlayer, PlayedInstance, read_unit, wait_until
from tests.integration.conftest import database_url, first_pass_only

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    first_pass_only("EC2, IAM and the instances' workers, whichever database records the requests"),
]

WEB_UNITS = ROOT / "deploy" / "web"
BURST = 12  # the step policy's answer to 12 queued: 2 workers
IDLE_SECONDS = "5"


def _operator(endpoint: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A management command as an operator runs it from a laptop: local settings, the account's endpoint."""
    env = {**SYSTEMD_BASE, **LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "VAR_DIR": str(folder),
           "DATABASE_URL": f"sqlite:///{folder / 'operator.sqlite3'}"}  # fmt: skip
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


class WebHost:
    """The web host's services, each started from its unit as systemd would: its ExecStart, its Environment= under
    the env file's values, with /opt/classifier, its state directory and /run moved under the test's folder."""

    def __init__(self, env_file: dict[str, str], folder: Path) -> None:
        self.env_file = env_file
        self.folder = folder
        self.processes: dict[str, ManagedProcess] = {}

    def _here(self, text: str) -> str:
        text = text.replace("%%", "%").replace(f"{APP}/.venv/bin/python", sys.executable).replace(APP, str(ROOT))
        return text.replace("/var/lib/", f"{self.folder}/var/lib/").replace("/run/", f"{self.folder}/run/")

    def start(self, unit_name: str, *, replace: tuple[str, str] = ("", ""), **env: str) -> ManagedProcess:
        unit = read_unit(WEB_UNITS / f"{unit_name}.service")
        assert unit["EnvironmentFile"] == "/run/classifier/web.env" and unit["User"] == "classifier"
        own = dict(pair.split("=", 1) for pair in shlex.split(self._here(unit.get("Environment", ""))))
        for folder in [own.get("VAR_DIR", ""), own.get("METRICS_DIR", "")]:
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)  # StateDirectory=, tmpfiles.d
        command = self._here(unit["ExecStart"]).replace(*replace)
        environment = {**SYSTEMD_BASE, **own, **self.env_file, **env}
        process = ManagedProcess(unit_name, shlex.split(command), environment, self.folder / f"{unit_name}.log",
                                 cwd=Path(self._here(unit["WorkingDirectory"])), inherit_environment=False)  # fmt: skip
        self.processes[unit_name] = process.start()
        return process

    def stop(self, unit_name: str) -> None:
        self.processes.pop(unit_name).stop(timeout=30)

    def stop_all(self) -> None:
        stop_together(list(self.processes.values()), timeout=30)
        self.processes.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                         for log in sorted(self.folder.glob("*.log")))  # fmt: skip


# Permissions of the shipped policies this run does not exercise, each with the path that needs it. Everything else
# each policy grants must be needed by some call of the run (_check_least_privilege).
_WEB, _WORKER = "PREFIX-web-host", "PREFIX-worker"
_SQS, _EC2 = "arn:aws:sqs:us-east-1:123456789012:PREFIX-", "arn:aws:ec2:us-east-1:123456789012"
NOT_EXERCISED_HERE: dict[str, str] = {
    f"{_WEB}: FindQueuesOnKombusOwnTransport: sqs:ListQueues on arn:aws:sqs:us-east-1:123456789012:*":
        "with FAST_PATHS=off, Celery's sends go through kombu's transport, which finds the queues by prefix",
    f"{_WEB}: StoreAndShowUploads: s3:GetObject on arn:aws:s3:::PREFIX-inputs/*":
        "a request's image page and thumbnail read its upload (pages, not the API this run uses)",
    f"{_WEB}: ForgetRefusedUploads: s3:DeleteObject on arn:aws:s3:::PREFIX-inputs/*":
        "an upload refused after its image was stored takes the image back (classifier/intake/acceptance.py)",
    f"{_WEB}: ConsumeResults: sqs:ChangeMessageVisibility on {_SQS}results":
        "the results consumer hands back what it could not record (a database outage)",
    f"{_WEB}: RefuseListAndRedriveDeadLetters: sqs:DeleteMessage on {_SQS}classify-dead-letter":
        "`deadletters fail` and `redrive` take the letters they dealt with out of the queue",
    f"{_WEB}: AutoscalerTerminatesOnlyItsFleet: ec2:TerminateInstances on {_EC2}:instance/*":
        "the ec2 provider ends a launch that never booted, and retires workers itself when told not to retire",
    f"{_WEB}: AutoscalerSizesItsGroup: autoscaling:TerminateInstanceInAutoScalingGroup on "
    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/PREFIX-workers":
        "the asg provider ends a launch that never booted",
    f"{_WORKER}: ConsumeAndRetryClassify: sqs:ChangeMessageVisibility on {_SQS}classify":
        "a long task's visibility is extended, and a warm shutdown hands prefetched messages back",
    f"{_WORKER}: ConsumeAndRetryClassify: sqs:SendMessage on {_SQS}classify":
        "a task retried after a transient failure is sent to the queue again (classifier/tasks.py)",
}  # fmt: skip


@pytest.fixture(scope="module")
def calls_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("aws-calls") / "calls.jsonl"


@pytest.fixture(scope="module")
def endpoint(calls_file: Path) -> Iterator[str]:
    """This module's moto server records every call with who signed it (tests/iam/recording_endpoint.py)."""
    port = free_port()
    server = ManagedProcess("recording-endpoint", [sys.executable, "-m", "tests.iam.recording_endpoint", "-H", HOST,
                                                   "-p", str(port), "--record", str(calls_file)],
                            log_path=calls_file.with_name("endpoint.log"), cwd=ROOT).start()  # fmt: skip
    try:
        wait_for_port(HOST, port, timeout=30, process=server)
        yield f"http://{HOST}:{port}"
    finally:
        server.stop()


@pytest.fixture
def account(endpoint: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A provisioned deployment with an Auto Scaling group; deprovisioned at the end, whatever happened."""
    prefix = f"box{uuid.uuid4().hex[:6]}"
    ec2 = client(endpoint, "ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    provisioned = _operator(endpoint, tmp_path, "provision", "--prefix", prefix, "--ami", image, "--subnets",
                            ",".join(subnets[:2]), "--max", "3", "--web-hosts", "0")  # fmt: skip
    made = {"prefix": prefix, "hosts": printed_environment(provisioned.stdout), "ec2": ec2, "deprovisioned": False}
    try:
        yield made
    finally:
        if not made["deprovisioned"]:  # the test failed before its own, checked, deprovision
            env = {**SYSTEMD_BASE, **LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "VAR_DIR": str(tmp_path)}
            removed = subprocess.run([sys.executable, "manage.py", "deprovision", "--prefix", prefix, "--yes"],
                                     cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
            print(removed.stdout, removed.stderr)


def _upload(web: str, token: str, paths: list[Path]) -> list[str]:
    """One POST of every image to the API, as a client behind the TLS-terminating load balancer would send it."""
    files = [("file", (path.name, path.read_bytes(), "image/jpeg")) for path in paths]
    headers = {"Authorization": f"Token {token}", "X-Forwarded-Proto": "https"}
    answer = httpx.post(f"{web}/api/classifications", files=files, headers=headers, timeout=60)
    assert answer.status_code == 202, answer.text
    return [row["id"] for row in answer.json()["results"]]


def _answers(web: str, token: str, ids: list[str], player: InstancePlayer, timeout: float = 90) -> list[dict[str, Any]]:
    """Each request as the API shows it once finished (or at the deadline), long-polled in short slices so that an
    instance that failed to boot fails the test at once instead of after every request's wait."""
    headers = {"Authorization": f"Token {token}", "X-Forwarded-Proto": "https"}
    deadline = time.monotonic() + timeout
    answers = []
    with httpx.Client(base_url=web, headers=headers, timeout=30) as session:
        for request_id in ids:
            while True:
                assert player.errors == [], "\n".join(player.errors)
                left = deadline - time.monotonic()
                answer = session.get(f"/api/classifications/{request_id}", params={"wait": max(0, min(5, left))})
                if answer.json()["status"] in FINISHED_STATUSES or left <= 0:
                    break
            answers.append(answer.json())
    return answers


def _group(endpoint: str, name: str) -> dict[str, Any]:
    return dict(client(endpoint, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"][0])  # fmt: skip


def _operate_as_the_web_host(host: WebHost, web_url: str, endpoint: str, prefix: str) -> None:
    """What else the web host's role is for, done under it: a scrape of /metrics (every queue's depth), an unreadable
    report refused to the dead-letter queue by the results consumer, and `manage.py deadletters list` on the host."""
    metrics = httpx.get(f"{web_url}/metrics", headers={"Authorization": f"Bearer {host.env_file['METRICS_TOKEN']}",
                                                       "X-Forwarded-Proto": "https"})  # fmt: skip
    assert metrics.status_code == 200 and "classifier_queue_messages" in metrics.text, metrics.text[:500]
    sqs = client(endpoint, "sqs")
    results = sqs.get_queue_url(QueueName=f"{prefix}-results")["QueueUrl"]
    sqs.send_message(QueueUrl=results, MessageBody="not a report")
    dead_letter = sqs.get_queue_url(QueueName=f"{prefix}-classify-dead-letter")["QueueUrl"]

    def refused() -> bool:
        counts = sqs.get_queue_attributes(QueueUrl=dead_letter, AttributeNames=["ApproximateNumberOfMessages"])
        return counts["Attributes"]["ApproximateNumberOfMessages"] == "1"

    wait_until(refused, 30, "the unreadable report in the dead-letter queue")
    on_the_host = {**SYSTEMD_BASE, **host.env_file, "VAR_DIR": str(host.folder)}
    listed = subprocess.run([sys.executable, "manage.py", "deadletters", "list"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env=on_the_host)  # fmt: skip
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "refused by" in listed.stdout and "not a report" in listed.stdout, listed.stdout


def _check_least_privilege(endpoint: str, prefix: str, roles: RoleCredentials, calls_file: Path,
                           player: InstancePlayer) -> None:  # fmt: skip
    """Every AWS call each tier made is allowed by its role's policy as the account holds it, and every permission
    of that policy is needed: taken away alone, some call of this run is denied (or it is listed, with the path
    that needs it, in NOT_EXERCISED_HERE)."""
    groups = {i: p.tags["aws:autoscaling:groupName"] for i, p in player.played.items()
              if "aws:autoscaling:groupName" in p.tags}  # fmt: skip
    world = AccountWorld(endpoint, groups)
    tiers = {role: Tier(role, world.role_policy(role)) for role in (f"{prefix}-web-host", f"{prefix}-worker")}
    judged = judge(read_calls(str(calls_file)), roles.principals, tiers, world, "us-east-1")
    for role, verdict in judged.items():
        assert verdict.requests, f"no call was signed with {role}'s credentials"
        denied = verdict.denials()
        assert not denied, "\n".join(map(str, denied))
    unneeded = {f"{role}: {permission}" for role, verdict in judged.items() for permission in verdict.unneeded()}
    expected = {key.replace("PREFIX", prefix) for key in NOT_EXERCISED_HERE}
    assert unneeded == expected, "granted, yet no call of this run needs it:\n" + "\n".join(sorted(unneeded - expected))


def test_from_an_empty_account_to_a_fleet_that_follows_the_queue_and_back(endpoint, account, tmp_path,
                                                                          calls_file) -> None:  # fmt: skip
    from django.contrib.auth.models import User
    from django.db import connection
    from rest_framework.authtoken.models import Token

    prefix, hosts, ec2 = account["prefix"], account["hosts"], account["ec2"]
    assert (hosts["AUTOSCALE_PROVIDER"], hosts["AUTOSCALE_GROUP"]) == ("asg", f"{prefix}-workers")
    # Each tier with its own role's credentials, as its instance profile would give them.
    roles = RoleCredentials(endpoint)
    token = Token.objects.create(user=User.objects.create_user("load-generator")).key
    # /etc/classifier/web.env as README's step 4 writes it, then what stands in for AWS here: the endpoint of each
    # service (production refuses AWS_ENDPOINT_URL, so the per-service variables boto3 also reads) and credentials
    # for the web host's instance profile. The autoscaler's policy and pace are the host's settings too.
    endpoints = {f"AWS_ENDPOINT_URL_{service}": endpoint for service in ("S3", "SQS", "EC2", "AUTO_SCALING", "STS")}
    env_file = {
        **hosts, "SERVICE_MODE": "production", "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "DJANGO_ALLOWED_HOSTS": HOST, "DATABASE_URL": database_url(connection.settings_dict),
        "METRICS_TOKEN": secrets.token_urlsafe(20), **roles.environment(f"{prefix}-web-host", "web-host"), **endpoints,
        "AUTOSCALE_POLICY": "step", "AUTOSCALE_MAX": "3", "AUTOSCALE_INTERVAL": "2",
    }  # fmt: skip
    host = WebHost(env_file, tmp_path / "web-host")

    def instance_profile(instance: str) -> dict[str, str]:
        return roles.environment(f"{prefix}-worker", session=instance, instance_id=instance)

    here = {"AWS_ENDPOINT_URL": endpoint, "WORKER_IDLE_SECONDS": IDLE_SECONDS}
    player = InstancePlayer(ec2, prefix, tmp_path / "instances", here, credentials=instance_profile)
    images = sorted(IMAGES_DIR.glob("*.JPEG"))
    try:
        port = free_port()
        web = host.start("classifier-web", replace=("--host 0.0.0.0 --port 80", f"--host {HOST} --port {port}"))
        host.start("classifier-results")
        wait_for_port(HOST, port, timeout=60, process=web)
        web_url = f"http://{HOST}:{port}"
        assert httpx.post(f"{web_url}/api/classifications", headers={"X-Forwarded-Proto": "https"}).status_code == 401
        # What a load balancer's health check asks (its calls, under the host's role, are checked like the rest).
        ready = httpx.get(f"{web_url}/readyz", headers={"X-Forwarded-Proto": "https"})
        assert ready.status_code == 200, ready.text
        player.start()

        answered: dict[str, list[dict[str, Any]]] = {}
        booted: dict[str, list[PlayedInstance]] = {}
        for provider, burst in (("ec2", images[:BURST]), ("asg", images[BURST : 2 * BURST])):
            before = set(player.played)
            # The unit's own command; only the first burst names its provider over provision's `asg`.
            host.start("classifier-autoscaler", **({"AUTOSCALE_PROVIDER": "ec2"} if provider == "ec2" else {}))
            ids = _upload(web_url, token, burst)
            wait_until(lambda: player.errors or player.peak >= 2, 60, f"{provider}: the fleet growing to two")
            answered[provider] = _answers(web_url, token, ids, player)
            wait_until(lambda: player.errors or (not player.running() and not player.busy()), 90,
                       f"{provider}: the fleet back to zero")  # fmt: skip
            assert player.errors == [], "\n".join(player.errors)
            host.stop("classifier-autoscaler")

            ours = {i: played for i, played in player.played.items() if i not in before}
            assert 2 <= len(ours) <= 3, ours  # the step policy's 2, within the cap
            ending = "powered off" if provider == "ec2" else "left its group"
            assert {played.ending for played in ours.values()} == {ending}, ours
            described = ec2.describe_instances(InstanceIds=list(ours))["Reservations"]
            assert {i["State"]["Name"] for r in described for i in r["Instances"]} == {"terminated"}
            assert all(a["status"] == "done" and a["label"] for a in answered[provider]), answered[provider]
            # Answered once, by the instances of this burst's provider: one send, one result recorded.
            assert {(a["dispatches"], a["result_deliveries"]) for a in answered[provider]} == {(1, 1)}
            assert {a["worker"].split("@")[1] for a in answered[provider]} <= set(ours)
            booted[provider] = list(ours.values())
            player.peak = 0

        # The ec2 provider's workers booted from the user data it sent with each launch: no group to leave; the
        # group's from the launch template's own, the one provision rendered, which names the group.
        assert all(played.environment["WORKER_RETIRE"] == "true" for played in booted["ec2"] + booted["asg"])
        assert not any("AUTOSCALE_GROUP" in played.environment for played in booted["ec2"])
        versions = ec2.describe_launch_template_versions(LaunchTemplateId=hosts["EC2_LAUNCH_TEMPLATE"],
                                                         Versions=["$Default"])["LaunchTemplateVersions"]  # fmt: skip
        rendered = base64.b64decode(versions[0]["LaunchTemplateData"]["UserData"]).decode()
        for played in booted["asg"]:
            assert (played.folder / "user-data").read_text() == rendered
            assert played.environment["AUTOSCALE_GROUP"] == f"{prefix}-workers"
        group = _group(endpoint, f"{prefix}-workers")
        assert (group["DesiredCapacity"], group["Instances"]) == (0, [])  # each leaving worker decremented it
        s3 = client(endpoint, "s3")  # the web tier stored each upload in S3, a worker wrote each answer there
        for bucket in (hosts["S3_INPUT_BUCKET"], hosts["S3_OUTPUT_BUCKET"]):
            assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 2 * BURST, bucket
        sqs = client(endpoint, "sqs")
        for queue in ("classify", "results", "classify-dead-letter"):
            url = sqs.get_queue_url(QueueName=f"{prefix}-{queue}")["QueueUrl"]
            counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            left = (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"])
            assert left == ("0", "0"), queue
        _operate_as_the_web_host(host, web_url, endpoint, prefix)
    except BaseException:
        print(host.logs())
        for played in player.played.values():
            print(f"--- {played.instance_id} ({played.ending or 'running'})\n{played.log_tail()}")
        raise
    finally:
        player.stop()
        host.stop_all()

    _check_least_privilege(endpoint, prefix, roles, calls_file, player)
    removed = _operator(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes")
    account["deprovisioned"] = True
    assert f"deleted       Auto Scaling group {prefix}-workers" in removed.stdout
    assert leftovers(endpoint, prefix) == []
