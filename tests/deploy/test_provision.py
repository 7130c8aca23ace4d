"""`manage.py provision --prefix` and `deprovision` as an operator runs them, against moto's server: every resource
described back, a second run that changes nothing, a dry run that creates nothing, a teardown that leaves nothing,
and the autoscaler launching from the provisioned template with the printed environment."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from django.conf import settings

from deploy.account.names import InvalidPrefix, Names, check_prefix
from stack.embedded import LOCAL_CREDENTIALS
from tests.conftest import ROOT
from tests.deploy.account import client, leftovers, printed_environment


def _env(endpoint: str, tmp_path: Any) -> dict[str, str]:
    return {**os.environ, **LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint, "VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}  # fmt: skip


def manage(
    endpoint: str, tmp_path: Any, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env or _env(endpoint, tmp_path),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def image(endpoint: str) -> str:
    return str(client(endpoint, "ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"])


@pytest.mark.parametrize("bad", ["", "A", "has_underscore", "-lead", "trail-", "two--hyphens", "x" * 33, "a.b",
                                 "xn-punycode"])  # fmt: skip
def test_a_prefix_that_cannot_name_a_bucket_is_refused(bad: str) -> None:
    with pytest.raises(InvalidPrefix):
        check_prefix(bad)


def test_names_derive_from_the_prefix() -> None:
    names = Names("demo")
    assert (names.input_bucket, names.output_bucket, names.queue_prefix) == ("demo-inputs", "demo-outputs", "demo-")
    assert (names.worker_role, names.web_host_role, names.launch_template) == ("demo-worker", "demo-web-host",
                                                                               "demo-worker")  # fmt: skip


def test_provision_makes_everything_with_its_attributes_and_a_second_run_changes_nothing(
    endpoint, tmp_path, prefix, image
) -> None:
    first = manage(endpoint, tmp_path, "provision", "--prefix", prefix, "--ami", image, "--expire-inputs-days", "7")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created ") == 13, first.stdout
    env = printed_environment(first.stdout)
    assert env["S3_INPUT_BUCKET"] == f"{prefix}-inputs" and env["SQS_QUEUE_PREFIX"] == f"{prefix}-"
    assert env["EC2_LAUNCH_TEMPLATE"].startswith("lt-") and env["EC2_FLEET_TAG"] == prefix
    assert env["EC2_SECURITY_GROUP_IDS"].startswith("sg-") and env["AWS_REGION"] == "us-east-1"

    s3 = client(endpoint, "s3")
    for bucket in (f"{prefix}-inputs", f"{prefix}-outputs"):
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                         "RestrictPublicBuckets": True}  # fmt: skip
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert {"Key": "classifier:deployment", "Value": prefix} in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    expiry = s3.get_bucket_lifecycle_configuration(Bucket=f"{prefix}-inputs")["Rules"]
    assert [(rule["ID"], rule["Expiration"]["Days"]) for rule in expiry] == [("expire-inputs", 7)]

    sqs = client(endpoint, "sqs")
    attributes = {name: sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=f"{prefix}-{name}")["QueueUrl"],
                                                 AttributeNames=["All"])["Attributes"]
                  for name in ("classify", "results", "classify-dead-letter")}  # fmt: skip
    redrive = json.loads(attributes["classify"]["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == attributes["classify-dead-letter"]["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    visibility = str(settings.SQS_VISIBILITY_TIMEOUT)  # the shipped default
    assert attributes["classify"]["VisibilityTimeout"] == attributes["results"]["VisibilityTimeout"] == visibility
    assert attributes["classify"]["ReceiveMessageWaitTimeSeconds"] == "2"
    assert attributes["classify-dead-letter"]["MessageRetentionPeriod"] == str(14 * 24 * 3600)

    iam = client(endpoint, "iam")
    expected_statements = {
        f"{prefix}-worker": {"ReadInputs", "LeaveItsGroupWhenIdle"},
        f"{prefix}-web-host": {"PassOnlyTheWorkerRole", "AutoscalerLaunchesTaggedWorkers"},
    }
    for role, sids in expected_statements.items():
        trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
        policy = iam.get_role_policy(RoleName=role, PolicyName=role)["PolicyDocument"]
        text = json.dumps(policy)
        assert sids <= {statement["Sid"] for statement in policy["Statement"]}
        for placeholder in ("REGION", "ACCOUNT_ID", "INPUT_BUCKET", "OUTPUT_BUCKET", "QUEUE_PREFIX", "FLEET_TAG",
                            "WORKER_ROLE"):  # fmt: skip
            assert placeholder not in text, placeholder
        assert f"arn:aws:s3:::{prefix}-inputs/*" in text and f":123456789012:{prefix}-classify" in text
        profile = iam.get_instance_profile(InstanceProfileName=role)["InstanceProfile"]
        assert [r["RoleName"] for r in profile["Roles"]] == [role]

    ec2 = client(endpoint, "ec2")
    groups = {g["GroupName"]: g for g in ec2.describe_security_groups(
        Filters=[{"Name": "tag:classifier:deployment", "Values": [prefix]}])["SecurityGroups"]}  # fmt: skip
    assert groups[f"{prefix}-workers"]["IpPermissions"] == []
    web_ports = {(p["IpProtocol"], p["FromPort"], p["ToPort"]) for p in groups[f"{prefix}-web"]["IpPermissions"]}
    assert web_ports == {("tcp", 80, 80), ("tcp", 443, 443)}

    template = ec2.describe_launch_templates(LaunchTemplateNames=[f"{prefix}-worker"])["LaunchTemplates"][0]
    assert template["LaunchTemplateId"] == env["EC2_LAUNCH_TEMPLATE"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template["LaunchTemplateId"],
                                                     Versions=["$Default"])["LaunchTemplateVersions"]  # fmt: skip
    data = versions[0]["LaunchTemplateData"]
    assert data["ImageId"] == image and data["InstanceType"] == "t3.micro"
    assert data["IamInstanceProfile"] == {"Name": f"{prefix}-worker"}
    assert data["SecurityGroupIds"] == [groups[f"{prefix}-workers"]["GroupId"]]
    assert data["InstanceInitiatedShutdownBehavior"] == "terminate"
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    script = base64.b64decode(data["UserData"]).decode()
    assert f"S3_INPUT_BUCKET={prefix}-inputs\n" in script and f"SQS_QUEUE_PREFIX={prefix}-\n" in script
    assert "systemctl enable --now classifier-worker.service" in script and "@WORKER_ENVIRONMENT@" not in script

    second = manage(endpoint, tmp_path, "provision", "--prefix", prefix, "--ami", image, "--expire-inputs-days", "7")
    assert second.returncode == 0, second.stderr
    assert "no changes: everything was already as it should be" in second.stdout
    assert second.stdout.count("found ") == 13 and "created " not in second.stdout, second.stdout
    assert printed_environment(second.stdout) == env  # the same ids
    again = ec2.describe_launch_templates(LaunchTemplateNames=[f"{prefix}-worker"])["LaunchTemplates"][0]
    assert again["LatestVersionNumber"] == template["LatestVersionNumber"] == 1  # no new version

    bigger = manage(endpoint, tmp_path, "provision", "--prefix", prefix, "--ami", image, "--instance-type",
                    "t3.small")  # fmt: skip
    assert bigger.returncode == 0, bigger.stderr
    assert (
        f"updated       launch template {prefix}-worker ({env['EC2_LAUNCH_TEMPLATE']}): InstanceType" in bigger.stdout
    )
    assert f"updated       bucket {prefix}-inputs: no expiry" in bigger.stdout
    latest = ec2.describe_launch_templates(LaunchTemplateNames=[f"{prefix}-worker"])["LaunchTemplates"][0]
    assert (latest["LatestVersionNumber"], latest["DefaultVersionNumber"]) == (2, 2)
    manage(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes")


def test_a_dry_run_prints_the_plan_and_creates_nothing(endpoint, tmp_path, prefix, image) -> None:
    result = manage(endpoint, tmp_path, "provision", "--prefix", prefix, "--ami", image, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("would create ") == 13 and "dry run: nothing was created or changed" in result.stdout
    assert leftovers(endpoint, prefix) == []


def test_the_autoscaler_launches_from_the_provisioned_template_and_deprovision_leaves_nothing(
    endpoint, tmp_path, prefix, image
) -> None:
    provisioned = manage(endpoint, tmp_path, "provision", "--prefix", prefix, "--ami", image)
    assert provisioned.returncode == 0, provisioned.stderr
    hosts = printed_environment(provisioned.stdout)
    sqs = client(endpoint, "sqs")
    queue = sqs.get_queue_url(QueueName=f"{prefix}-classify")["QueueUrl"]
    for n in range(12):
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"n": n}))
    s3 = client(endpoint, "s3")
    s3.put_object(Bucket=f"{prefix}-inputs", Key="left-behind.jpg", Body=b"an image nobody collected")

    env = {**_env(endpoint, tmp_path), **hosts}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    scaled = manage(endpoint, tmp_path, "autoscale", "--provider", "ec2", "--policy", "step", "--once", env=env)
    assert scaled.returncode == 0, scaled.stderr
    assert "visible=12" in scaled.stdout and "action=launch" in scaled.stdout, scaled.stdout
    ec2 = client(endpoint, "ec2")
    alive = [{"Name": "instance-state-name", "Values": ["pending", "running"]},
             {"Name": "tag:autoscale:fleet", "Values": [prefix]}]  # fmt: skip
    workers = [i for r in ec2.describe_instances(Filters=alive)["Reservations"] for i in r["Instances"]]
    assert len(workers) == 2  # the step policy: 12 queued messages, 2 workers
    for worker in workers:
        assert worker["ImageId"] == image and worker["InstanceType"] == "t3.micro"
        assert worker["IamInstanceProfile"]["Arn"].endswith(f"instance-profile/{prefix}-worker")
        assert [g["GroupId"] for g in worker["SecurityGroups"]] == [hosts["EC2_SECURITY_GROUP_IDS"]]

    s3.create_bucket(Bucket=f"{prefix}-lookalike")  # named like ours, not made by provision: left alone
    removed = manage(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes")
    assert removed.returncode == 0, removed.stderr
    deleted = [line for line in removed.stdout.splitlines() if line.startswith("deleted")]
    assert all("instance i-" in line for line in deleted[:2]), removed.stdout  # the instances first
    assert removed.stdout.startswith(f"absent        Auto Scaling group {prefix}-web\n"  # none made without subnets
                                     f"absent        Auto Scaling group {prefix}-workers")  # fmt: skip
    assert leftovers(endpoint, prefix) == [f"{prefix}-lookalike"]

    again = manage(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes")
    assert again.returncode == 0 and f"nothing to remove: no resource of deployment {prefix}" in again.stdout


def test_deprovision_leaves_alone_what_is_named_like_ours_but_is_not(endpoint, tmp_path, prefix) -> None:
    s3 = client(endpoint, "s3")
    s3.create_bucket(Bucket=f"{prefix}-inputs")  # someone else's, untagged
    result = manage(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes")
    assert result.returncode == 0, result.stderr
    assert f"not ours      bucket {prefix}-inputs: left alone" in result.stdout
    assert s3.head_bucket(Bucket=f"{prefix}-inputs")


def test_deprovision_asks_before_it_deletes(endpoint, tmp_path, prefix) -> None:
    result = manage(endpoint, tmp_path, "deprovision", "--prefix", prefix)
    assert result.returncode != 0
    assert "pass --yes to confirm" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        (["--prefix", "Bad_Prefix"], {}, "prefix 'Bad_Prefix' cannot name S3 buckets"),
        (["--prefix", "ok", "--expire-inputs-days", "0"], {}, "--expire-inputs-days must be at least 1"),
        (["--prefix", "ok", "--subnets", "subnet-1"], {}, "--subnets makes an Auto Scaling group from the launch"),
        (["--prefix", "nocreds"], {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "no AWS credentials found"),
    ],
)
def test_bad_input_is_a_one_line_error(endpoint, tmp_path, args, extra_env, message) -> None:
    env = {**_env(endpoint, tmp_path), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    env = {key: value for key, value in {**env, **extra_env}.items() if value != ""}
    result = manage(endpoint, tmp_path, "provision", *args, env=env)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_refused_step_says_what_was_made_and_a_rerun_finishes(endpoint, tmp_path, prefix, image) -> None:
    failed = manage(endpoint, tmp_path, "provision", "--prefix", prefix, "--ami", "ami-00000000")
    assert failed.returncode != 0
    error = failed.stderr.strip()
    assert error.startswith(f"CommandError: provision stopped at launch template {prefix}-worker: image ami-00000000")
    assert f"already done: created bucket {prefix}-inputs" in error and error.endswith("Run it again to finish.")
    assert "Traceback" not in failed.stderr
    finished = manage(endpoint, tmp_path, "provision", "--prefix", prefix, "--ami", image)
    assert finished.returncode == 0, finished.stderr
    assert f"created       launch template {prefix}-worker" in finished.stdout and finished.stdout.count("found ") == 12
    manage(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes")


def test_with_subnets_the_asg_provider_sizes_the_group_and_a_retiring_worker_leaves_it(
    endpoint, tmp_path, prefix, image
) -> None:
    ec2 = client(endpoint, "ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    provisioned = manage(endpoint, tmp_path, "provision", "--prefix", prefix, "--ami", image, "--subnets",
                         ",".join(subnets[:2]), "--max", "5", "--web-hosts", "0")  # fmt: skip
    assert provisioned.returncode == 0, provisioned.stderr
    assert f"created       Auto Scaling group {prefix}-workers" in provisioned.stdout
    hosts = printed_environment(provisioned.stdout)
    assert (hosts["AUTOSCALE_PROVIDER"], hosts["AUTOSCALE_GROUP"]) == ("asg", f"{prefix}-workers")
    autoscaling = client(endpoint, "autoscaling")
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{prefix}-workers"])["AutoScalingGroups"][
        0
    ]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (0, 5, 0)
    assert group["NewInstancesProtectedFromScaleIn"] is True
    assert group["LaunchTemplate"]["LaunchTemplateId"] == hosts["EC2_LAUNCH_TEMPLATE"]
    assert set(group["VPCZoneIdentifier"].split(",")) == set(subnets[:2])
    again = manage(endpoint, tmp_path, "provision", "--prefix", prefix, "--ami", image, "--subnets",
                   ",".join(subnets[:2]), "--max", "5", "--web-hosts", "0")  # fmt: skip
    assert "no changes" in again.stdout and f"found         Auto Scaling group {prefix}-workers" in again.stdout

    sqs = client(endpoint, "sqs")
    queue = sqs.get_queue_url(QueueName=f"{prefix}-classify")["QueueUrl"]
    for n in range(12):
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"n": n}))
    env = {**_env(endpoint, tmp_path), **hosts}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    scaled = manage(endpoint, tmp_path, "autoscale", "--policy", "step", "--once", env=env)  # asg: from the env
    assert scaled.returncode == 0, scaled.stderr
    assert "autoscaling asg workers" in scaled.stdout and "action=launch" in scaled.stdout, scaled.stdout
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{prefix}-workers"])["AutoScalingGroups"][
        0
    ]
    assert group["DesiredCapacity"] == 2  # the step policy: 12 queued messages, 2 workers
    members = group["Instances"]
    assert len(members) == 2 and all(member["ProtectedFromScaleIn"] for member in members)
    workers = ec2.describe_instances(InstanceIds=[m["InstanceId"] for m in members])["Reservations"]
    for worker in (i for r in workers for i in r["Instances"]):
        assert worker["ImageId"] == image
        assert {"Key": "autoscale:fleet", "Value": prefix} in worker["Tags"]

    # A retiring worker's unit runs autoscale.leave: its instance leaves the group, which shrinks by one.
    leaving = members[0]["InstanceId"]
    left = subprocess.run([sys.executable, "-m", "autoscale.leave"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**env, "INSTANCE_ID": leaving, "AWS_REGION": "us-east-1"})  # fmt: skip
    assert left.returncode == 0, left.stderr
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{prefix}-workers"])["AutoScalingGroups"][
        0
    ]
    assert group["DesiredCapacity"] == 1
    assert leaving not in {m["InstanceId"] for m in group["Instances"] if not m["LifecycleState"].startswith("Termin")}
    outside = subprocess.run([sys.executable, "-m", "autoscale.leave"], cwd=ROOT, capture_output=True, text=True,
                             timeout=60, env={**env, "INSTANCE_ID": "i-00000000000000000"})  # fmt: skip
    assert outside.returncode == 1 and "could not leave" in outside.stderr  # the unit then powers off instead

    removed = manage(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines()[1].startswith(f"deleted       Auto Scaling group {prefix}-workers")
    assert leftovers(endpoint, prefix) == []
    assert (
        autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[f"{prefix}-workers"])["AutoScalingGroups"] == []
    )


def _subnets(endpoint: str, count: int = 2) -> list[str]:
    """Subnets of the default VPC in as many different Availability Zones."""
    ec2 = client(endpoint, "ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    by_zone = {s["AvailabilityZone"]: s["SubnetId"]
               for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]}  # fmt: skip
    return [by_zone[zone] for zone in sorted(by_zone)[:count]]


def test_the_web_tier_behind_a_load_balancer_with_its_database_and_secrets(endpoint, tmp_path, prefix, image) -> None:
    subnets = _subnets(endpoint)
    args = ["provision", "--prefix", prefix, "--ami", image, "--subnets", ",".join(subnets), "--web-hosts", "2",
            "--database", "rds"]  # fmt: skip
    first = manage(endpoint, tmp_path, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    for kind in ("load balancer", "target group", "listeners", "database", "database subnet group", "secret",
                 "parameters", "security group", "Auto Scaling group", "launch template"):  # fmt: skip
        assert f"created       {kind} " in first.stdout, (kind, first.stdout)

    elbv2, rds, ec2 = client(endpoint, "elbv2"), client(endpoint, "rds"), client(endpoint, "ec2")
    sgs = {g["GroupName"]: g for g in ec2.describe_security_groups(
        Filters=[{"Name": "tag:classifier:deployment", "Values": [prefix]}])["SecurityGroups"]}  # fmt: skip
    balancer_sg, web_sg, db_sg = (sgs[f"{prefix}-{n}"]["GroupId"] for n in ("balancer", "web", "database"))
    [balancer] = elbv2.describe_load_balancers(Names=[f"{prefix}-web"])["LoadBalancers"]
    assert (balancer["Scheme"], balancer["Type"], balancer["SecurityGroups"]) == ("internet-facing", "application",
                                                                                  [balancer_sg])  # fmt: skip
    assert {zone["SubnetId"] for zone in balancer["AvailabilityZones"]} == set(subnets)
    [targets] = elbv2.describe_target_groups(Names=[f"{prefix}-web-hosts"])["TargetGroups"]
    assert (targets["HealthCheckPath"], targets["Port"], targets["Protocol"]) == ("/readyz", 80, "HTTP")
    [listener] = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert (listener["Port"], listener["DefaultActions"][0]["TargetGroupArn"]) == (80, targets["TargetGroupArn"])
    # The web hosts take requests from the balancer alone; the database from the web hosts alone.
    [web_rule] = sgs[f"{prefix}-web"]["IpPermissions"]
    assert (web_rule["FromPort"], [p["GroupId"] for p in web_rule["UserIdGroupPairs"]], web_rule["IpRanges"]) == (
        80, [balancer_sg], [])  # fmt: skip
    [db_rule] = sgs[f"{prefix}-database"]["IpPermissions"]
    assert (db_rule["FromPort"], [p["GroupId"] for p in db_rule["UserIdGroupPairs"]]) == (5432, [web_sg])

    [database] = rds.describe_db_instances(DBInstanceIdentifier=f"{prefix}-db")["DBInstances"]
    assert (database["Engine"], database["StorageEncrypted"], database["PubliclyAccessible"]) == ("postgres", True,
                                                                                                  False)  # fmt: skip
    assert [g["VpcSecurityGroupId"] for g in database["VpcSecurityGroups"]] == [db_sg]

    web_group = client(endpoint, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[f"{prefix}-web"])["AutoScalingGroups"][0]  # fmt: skip
    assert (web_group["MinSize"], web_group["MaxSize"], web_group["DesiredCapacity"]) == (2, 2, 2)
    assert web_group["TargetGroupARNs"] == [targets["TargetGroupArn"]] and web_group["HealthCheckType"] == "ELB"
    template = ec2.describe_launch_template_versions(LaunchTemplateName=f"{prefix}-web",
                                                     Versions=["$Default"])["LaunchTemplateVersions"][0]  # fmt: skip
    data = template["LaunchTemplateData"]
    assert data["IamInstanceProfile"] == {"Name": f"{prefix}-web-host"} and data["SecurityGroupIds"] == [web_sg]
    user_data = base64.b64decode(data["UserData"]).decode()
    assert f"CLASSIFIER_PARAMETERS=/{prefix}/web" in user_data and f"CLASSIFIER_SECRET={prefix}/web" in user_data

    # Secrets generated once, into the secret; the rest as parameters. None of them in user data or the output.
    stored = json.loads(client(endpoint, "secretsmanager").get_secret_value(SecretId=f"{prefix}/web")["SecretString"])
    assert set(stored) == {"DJANGO_SECRET_KEY", "METRICS_TOKEN", "OPERATOR_API_TOKEN", "DATABASE_PASSWORD"}
    parameters = {p["Name"].rsplit("/", 1)[1]: p["Value"] for p in client(endpoint, "ssm").get_parameters_by_path(
        Path=f"/{prefix}/web", MaxResults=10)["Parameters"]}  # fmt: skip
    assert len(parameters) == 10  # a page: more are there
    for value in stored.values():
        assert value not in first.stdout + first.stderr and value not in user_data

    # What `manage.py loadtest --prefix` aims at: the balancer, with the operator's token from the secret.
    found = manage(endpoint, tmp_path, "shell", "-c", "from stack.management.commands.loadtest import Command; "
                   f"print(*Command()._deployment({prefix!r}, None))")  # fmt: skip
    aimed = found.stdout.splitlines()[-1].split()
    assert aimed == [f"http://{balancer['DNSName']}", stored["OPERATOR_API_TOKEN"]], found.stdout + found.stderr

    second = manage(endpoint, tmp_path, *args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "no changes: everything was already as it should be" in second.stdout, second.stdout
    again = json.loads(client(endpoint, "secretsmanager").get_secret_value(SecretId=f"{prefix}/web")["SecretString"])
    assert again == stored  # never generated twice

    # With a certificate: HTTPS forwards, HTTP redirects to it, and the hosts keep Django's HTTPS-only settings.
    certificate = client(endpoint, "acm").request_certificate(DomainName="classify.example.com")["CertificateArn"]
    secured = manage(endpoint, tmp_path, *args, "--certificate-arn", certificate)
    assert secured.returncode == 0, secured.stdout + secured.stderr
    assert "updated       listeners" in secured.stdout and "remove DJANGO_SSL_REDIRECT" in secured.stdout
    assert f"the service: https://{balancer['DNSName']}" in secured.stdout
    listeners = {listener["Port"]: listener for listener in
                 elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]}  # fmt: skip
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["Certificates"][0]["CertificateArn"] == certificate
    assert listeners[443]["DefaultActions"][0]["TargetGroupArn"] == targets["TargetGroupArn"]
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert "no changes" in manage(endpoint, tmp_path, *args, "--certificate-arn", certificate).stdout

    removed = manage(endpoint, tmp_path, "deprovision", "--prefix", prefix, "--yes")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert leftovers(endpoint, prefix) == []
