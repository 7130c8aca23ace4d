"""EC2 in a box: the whole AWS shape against a moto server, from an empty account back to an empty account.

`manage.py provision` makes the deployment with two web hosts behind a load balancer, an Auto Scaling group of
workers, the configuration and the secret (the database is this machine's PostgreSQL: moto's RDS runs none). The
web hosts' group launches two instances; tests/instance_player.py plays every instance moto reports running: a web
host from its user data (its configuration read from SSM and Secrets Manager through its role, migrations once,
then its units: web tier, results consumer, sweeper, an autoscaler each with one working), a worker from its own.
Requests go through tests/balancer_stand_in.py, which sends each to a target the target group lists as registered
and its own /readyz checks find healthy. Every process runs under its tier's role (a session of the provisioned
role, per instance), and every AWS call is recorded and judged against that role's policy (tests/iam/).

The workers retire at the shipped idle time (40 s) and the autoscalers tick at the shipped interval with the
shipped policy. Two bursts go through: the first sized by the web hosts' autoscaler (asg: a retiring worker
leaves its group), the second by the ec2 provider (a retired worker powers its instance off, which its shutdown
behaviour terminates); synchronous callers are answered by either host, however the two results consumers share
the work. Then `manage.py deprovision` leaves nothing of the prefix.
"""

from __future__ import annotations

import json
import shutil
import statistics
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
from stack.processes import ManagedProcess, free_port, wait_for_port
from tests.balancer_stand_in import BalancerStandIn
from tests.conftest import IMAGES_DIR, ROOT
from tests.deploy.account import client, leftovers, printed_environment
from tests.iam.account import AccountWorld, RoleCredentials
from tests.iam.check import Tier, judge
from tests.iam.recording_endpoint import read as read_calls
from tests.instance_player import SYSTEMD_BASE, Image, InstancePlayer, PlayedWebHost, wait_until
from tests.integration.conftest import first_pass_only

pytestmark = [
    pytest.mark.integration,
    first_pass_only("EC2, IAM, the web hosts and the workers, with a PostgreSQL database of their own"),
]

WEB_UNITS = ROOT / "deploy" / "web"
BURST = 12
SYNC_CALLERS = 9
MAX_WORKERS = 3
ADMIN_DATABASE = "postgres://postgres@127.0.0.1:5432/postgres"


def _operator(endpoint: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A management command as an operator runs it from a laptop: local settings, the account's endpoint."""
    env = {**SYSTEMD_BASE, **LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "VAR_DIR": str(folder),
           "DATABASE_URL": f"sqlite:///{folder / 'operator.sqlite3'}"}  # fmt: skip
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


# Permissions of the shipped policies this run may not exercise, each with the path that needs it. Everything else
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
def hosts_database() -> Iterator[str]:
    """A PostgreSQL database of this machine's for the web hosts (what RDS would run), dropped at the end."""
    import psycopg

    name = f"box_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DATABASE, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{ADMIN_DATABASE.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_DATABASE, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def account(endpoint: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A deployment's prefix; whatever the test made of it is deprovisioned at the end, whatever happened."""
    made = {"prefix": f"box{uuid.uuid4().hex[:6]}", "deprovisioned": False}
    try:
        yield made
    finally:
        if not made["deprovisioned"]:  # the test failed before its own, checked, deprovision
            env = {**SYSTEMD_BASE, **LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "VAR_DIR": str(tmp_path)}
            removed = subprocess.run([sys.executable, "manage.py", "deprovision", "--prefix", made["prefix"], "--yes"],
                                     cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
            print(removed.stdout, removed.stderr)


def _bake_and_provision(endpoint: str, prefix: str, folder: Path, database: str) -> tuple[str, str]:
    """`manage.py bake` (the player plays its builder), then `manage.py provision` from the image it printed, as
    an operator runs them; returns the image and provision's output."""
    ec2 = client(endpoint, "ec2")
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    baked = _operator(endpoint, folder, "bake", "--prefix", prefix, "--base-ami", base, "--timeout", "1200")
    image = baked.stdout.strip().splitlines()[-1].removeprefix("image: ")
    assert image.startswith("ami-"), baked.stdout
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"]
               for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]}  # fmt: skip
    subnets = [by_zone[zone] for zone in sorted(by_zone)[:2]]
    provisioned = _operator(endpoint, folder, "provision", "--prefix", prefix, "--ami", image, "--subnets",
                            ",".join(subnets), "--max", str(MAX_WORKERS), "--web-hosts", "2",
                            "--database-url", database)  # fmt: skip
    return image, provisioned.stdout + provisioned.stderr


def _upload(balancer: str, dns: str, token: str, paths: list[Path]) -> list[str]:
    """One POST of every image to the API through the balancer, named by its DNS name as a client names it."""
    files = [("file", (path.name, path.read_bytes(), "image/jpeg")) for path in paths]
    headers = {"Authorization": f"Token {token}", "Host": dns}
    answer = httpx.post(f"{balancer}/api/classifications", files=files, headers=headers, timeout=60)
    assert answer.status_code == 202, answer.text
    return [row["id"] for row in answer.json()["results"]]


def _answers(balancer: str, dns: str, token: str, ids: list[str], player: InstancePlayer,
             timeout: float = 180) -> list[dict[str, Any]]:  # fmt: skip
    """Each request as the API shows it once finished (or at the deadline), long-polled in short slices so that an
    instance that failed to boot fails the test at once instead of after every request's wait."""
    headers = {"Authorization": f"Token {token}", "Host": dns}
    deadline = time.monotonic() + timeout
    answers = []
    with httpx.Client(base_url=balancer, headers=headers, timeout=30) as session:
        for request_id in ids:
            while True:
                assert player.errors == [], "\n".join(player.errors)
                left = deadline - time.monotonic()
                answer = session.get(f"/api/classifications/{request_id}", params={"wait": max(0, min(5, left))})
                assert answer.status_code == 200, answer.text
                if answer.json()["status"] in FINISHED_STATUSES or left <= 0:
                    break
            answers.append(answer.json())
    return answers


def _synchronous(balancer: str, dns: str, token: str, paths: list[Path]) -> list[float]:
    """`POST /` callers one after another through the balancer; each one's wait for its label, in seconds."""
    waits = []
    with httpx.Client(base_url=balancer, headers={"Authorization": f"Token {token}", "Host": dns},
                      timeout=120) as session:  # fmt: skip
        for path in paths:
            started = time.monotonic()
            answer = session.post("/", files={"myfile": (path.name, path.read_bytes(), "image/jpeg")})
            waits.append(time.monotonic() - started)
            assert answer.status_code == 200 and answer.text.strip(), answer.text
    return waits


def _group(endpoint: str, name: str) -> dict[str, Any]:
    return dict(client(endpoint, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"][0])  # fmt: skip


def _operate_as_the_web_host(host: PlayedWebHost, web_url: str, endpoint: str, prefix: str) -> None:
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
    on_the_host = {**SYSTEMD_BASE, **host.env_file, **host.here, "VAR_DIR": str(host.folder / "operator")}
    listed = subprocess.run([sys.executable, "manage.py", "deadletters", "list"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env=on_the_host)  # fmt: skip
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "refused by" in listed.stdout and "not a report" in listed.stdout, listed.stdout
    failed = subprocess.run([sys.executable, "manage.py", "deadletters", "fail"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env=on_the_host)  # fmt: skip
    assert failed.returncode == 0 and "dropped 1 letter(s)" in failed.stdout, failed.stdout + failed.stderr


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
    # A listed path may or may not come up in a run (a warm shutdown with a message prefetched, say): listed ones
    # are allowed to go unused, nothing else is.
    assert unneeded <= expected, "granted, yet no call of this run needs it:\n" + "\n".join(sorted(unneeded - expected))


def test_from_an_empty_account_to_two_web_hosts_behind_a_balancer_and_a_fleet_that_follows_the_queue(
    endpoint, account, tmp_path, calls_file, hosts_database
) -> None:
    prefix, ec2 = account["prefix"], client(endpoint, "ec2")
    roles = RoleCredentials(endpoint)  # each tier under its own role, one session per instance
    # What stands in for AWS on a web host: each service's endpoint (production refuses AWS_ENDPOINT_URL, so the
    # per-service variables boto3 also reads), its instance profile's credentials, and its private address.
    services = ("S3", "SQS", "EC2", "AUTO_SCALING", "STS", "SSM", "SECRETS_MANAGER")
    endpoints = {f"AWS_ENDPOINT_URL_{service}": endpoint for service in services}

    def web_host(instance: str) -> dict[str, str]:
        credentials = roles.environment(f"{prefix}-web-host", session=instance, instance_id=instance)
        return {**endpoints, **credentials, "INSTANCE_LOCAL_IPV4": "127.0.0.1"}

    def worker(instance: str) -> dict[str, str]:
        return roles.environment(f"{prefix}-worker", session=instance, instance_id=instance)

    player = InstancePlayer(ec2, prefix, tmp_path / "instances", {"AWS_ENDPOINT_URL": endpoint},
                            credentials=worker, web_host_environment=web_host)  # fmt: skip

    def port_of(instance: str) -> int:
        played = player.played.get(instance)
        return played.host.port if played is not None and played.host is not None else 0

    images = sorted(IMAGES_DIR.glob("*.JPEG"))
    balancer: BalancerStandIn | None = None
    try:
        player.start()
        image, output = _bake_and_provision(endpoint, prefix, tmp_path, hosts_database)
        [root] = player.builders.values()  # every instance boots from what the builder baked
        player.image = Image.baked(root)
        environment = printed_environment(output)
        assert (environment["AUTOSCALE_PROVIDER"], environment["AUTOSCALE_GROUP"]) == ("asg", f"{prefix}-workers")
        elbv2 = client(endpoint, "elbv2")
        [targets] = elbv2.describe_target_groups(Names=[f"{prefix}-web-hosts"])["TargetGroups"]
        [described] = elbv2.describe_load_balancers(Names=[f"{prefix}-web"])["LoadBalancers"]
        dns = described["DNSName"]
        assert f"the service: http://{dns}" in output
        balancer = BalancerStandIn(elbv2, targets["TargetGroupArn"], port_of).start()
        wait_until(lambda: player.errors or len(balancer.healthy()) == 2, 240, "two healthy web hosts")
        assert player.errors == [], "\n".join(player.errors)
        hosts = player.web_hosts()
        assert sorted(balancer.registered()) == sorted(h.instance_id for h in hosts)
        # No secret in the user data, the launch templates or provision's output; the hosts have them.
        stored = client(endpoint, "secretsmanager").get_secret_value(SecretId=f"{prefix}/web")["SecretString"]
        secret = json.loads(stored)
        assert {h.env_file["DJANGO_SECRET_KEY"] for h in hosts} == {secret["DJANGO_SECRET_KEY"]}
        templates = [ec2.describe_launch_template_versions(LaunchTemplateName=name, Versions=["$Default"])
                     for name in (f"{prefix}-web", f"{prefix}-worker")]  # fmt: skip
        # Both tiers launch from the one image the bake made.
        assert {t["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"] for t in templates} == {image}
        shown = output + json.dumps(templates, default=str)
        shown += "".join((h.folder / "user-data").read_text() for h in hosts)
        for value in secret.values():
            assert value not in shown
        token = secret["OPERATOR_API_TOKEN"]  # the hosts gave it to the `operator` user at boot
        url = balancer.url
        assert httpx.post(f"{url}/api/classifications", headers={"Host": dns}).status_code == 401

        # A burst sized by the web hosts' autoscaler (one works, one stands by), answered once each.
        before = set(player.played)
        ids = _upload(url, dns, token, images[:BURST])
        wait_until(lambda: player.errors or player.peak >= 1, 90, "asg: the fleet growing")
        answered = _answers(url, dns, token, ids, player)
        assert all(a["status"] == "done" and a["label"] for a in answered), answered
        assert {(a["dispatches"], a["result_deliveries"]) for a in answered} == {(1, 1)}
        # Synchronous callers while the fleet is warm: with both hosts serving and recording, then with one.
        both = _synchronous(url, dns, token, images[BURST : BURST + SYNC_CALLERS])
        served = dict(balancer.served)
        assert all(served.get(h.instance_id, 0) > 0 for h in hosts), served
        second = hosts[1]
        second.stop("classifier-web")
        wait_until(lambda: balancer.healthy() == [hosts[0].instance_id], 60, "the balancer taking the host out")
        second.stop("classifier-results")
        one = _synchronous(url, dns, token, images[BURST + SYNC_CALLERS : BURST + 2 * SYNC_CALLERS])
        ratio = statistics.median(both) / statistics.median(one)
        print(f"synchronous callers, p50: two hosts {statistics.median(both) * 1000:.0f} ms, one host "
              f"{statistics.median(one) * 1000:.0f} ms: {ratio:.2f} x")  # fmt: skip
        assert ratio <= 1.5, (both, one)
        second.start("classifier-web", replace=("--port 80", f"--port {second.port}"))
        second.start("classifier-results")
        wait_until(lambda: len(balancer.healthy()) == 2, 90, "the host back in the target group")
        # The README's load test, through the balancer, with the operator's token.
        load = subprocess.run([sys.executable, "manage.py", "loadtest", "--url", url, "--images", str(IMAGES_DIR),
                               "--requests", "20", "--concurrency", "5"], cwd=ROOT, capture_output=True, text=True,
                              timeout=300, env={**SYSTEMD_BASE, "VAR_DIR": str(tmp_path / "operator"),
                                                "LOADTEST_TOKEN": token})  # fmt: skip
        assert load.returncode == 0, load.stdout + load.stderr

        wait_until(lambda: player.errors or (not player.running() and not player.busy()), 180,
                   "asg: the fleet back to zero at the shipped idle time")  # fmt: skip
        assert player.errors == [], "\n".join(player.errors)
        asg_workers = {i: p for i, p in player.played.items() if i not in before and p.host is None}
        assert 1 <= len(asg_workers) <= MAX_WORKERS and {p.ending for p in asg_workers.values()} == {"left its group"}
        group = _group(endpoint, f"{prefix}-workers")
        assert (group["DesiredCapacity"], group["Instances"]) == (0, [])  # each leaving worker decremented it

        # A burst sized by the ec2 provider, its autoscaler on the first host in place of the hosts' own.
        for host in hosts:
            host.stop("classifier-autoscaler")
        hosts[0].start("classifier-autoscaler", AUTOSCALE_PROVIDER="ec2")
        before, player.peak = set(player.played), 0
        ids = _upload(url, dns, token, images[:BURST])
        wait_until(lambda: player.errors or player.peak >= 1, 90, "ec2: the fleet growing")
        answered = _answers(url, dns, token, ids, player)
        assert all(a["status"] == "done" and a["label"] for a in answered), answered
        assert {(a["dispatches"], a["result_deliveries"]) for a in answered} == {(1, 1)}
        wait_until(lambda: player.errors or (not player.running() and not player.busy()), 180,
                   "ec2: the fleet back to zero at the shipped idle time")  # fmt: skip
        assert player.errors == [], "\n".join(player.errors)
        ec2_workers = {i: p for i, p in player.played.items() if i not in before and p.host is None}
        assert ec2_workers and {p.ending for p in ec2_workers.values()} == {"powered off"}
        assert not any("AUTOSCALE_GROUP" in p.environment for p in ec2_workers.values())
        described_workers = ec2.describe_instances(InstanceIds=[*asg_workers, *ec2_workers])["Reservations"]
        assert {i["State"]["Name"] for r in described_workers for i in r["Instances"]} == {"terminated"}

        sqs = client(endpoint, "sqs")
        for queue in ("classify", "results", "classify-dead-letter"):
            queue_url = sqs.get_queue_url(QueueName=f"{prefix}-{queue}")["QueueUrl"]
            counts = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
            left = (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"])
            assert left == ("0", "0"), queue
        _operate_as_the_web_host(hosts[0], hosts[0].url, endpoint, prefix)
    except BaseException:
        for played in player.played.values():
            print(played.host.logs() if played.host else
                  f"--- {played.instance_id} ({played.ending or 'running'})\n{played.log_tail()}")  # fmt: skip
        raise
    finally:
        if balancer is not None:
            balancer.stop()
        player.stop()
        for root in player.builders.values():  # a baked image's files: gigabytes
            shutil.rmtree(root, ignore_errors=True)

    # Nor in any log of any instance (web hosts' services, workers, the builder), nor what systemd would journal.
    logs = "".join(log.read_text(errors="replace") for log in (tmp_path / "instances").rglob("*.log"))
    assert logs and not [key for key, value in secret.items() if value in logs]
    _check_least_privilege(endpoint, prefix, roles, calls_file, player)
    removed = _operator(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes")
    account["deprovisioned"] = True
    assert f"deleted       Auto Scaling group {prefix}-workers" in removed.stdout
    assert f"deleted       load balancer {prefix}-web" in removed.stdout
    assert leftovers(endpoint, prefix) == []
