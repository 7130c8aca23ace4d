"""What the deploy tests ask of an AWS account (a moto server): clients, the environment provision prints, and
everything a deployment's prefix still names."""

from __future__ import annotations

from typing import Any

import boto3

from stack.embedded import LOCAL_CREDENTIALS


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", **{
        "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]})  # fmt: skip


def printed_environment(stdout: str) -> dict[str, str]:
    """The KEY=value lines `manage.py provision` prints for the hosts."""
    lines = [line for line in stdout.splitlines() if "=" in line and not line.startswith("#") and " " not in line]
    return dict(line.split("=", 1) for line in lines)


def leftovers(endpoint: str, prefix: str) -> list[str]:
    """Everything in the account named by the prefix."""
    s3, sqs, iam, ec2 = (client(endpoint, name) for name in ("s3", "sqs", "iam", "ec2"))
    found = [b["Name"] for b in s3.list_buckets().get("Buckets", []) if b["Name"].startswith(prefix)]
    found += sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    found += [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(prefix)]
    found += [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]
              if p["InstanceProfileName"].startswith(prefix)]  # fmt: skip
    found += [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]
              if g["GroupName"].startswith(prefix)]  # fmt: skip
    found += [t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]
              if t["LaunchTemplateName"].startswith(prefix)]  # fmt: skip
    alive = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
             {"Name": "tag:autoscale:fleet", "Values": [prefix]}]  # fmt: skip
    found += [i["InstanceId"] for r in ec2.describe_instances(Filters=alive)["Reservations"] for i in r["Instances"]]
    groups = client(endpoint, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    found += [g["AutoScalingGroupName"] for g in groups if g["AutoScalingGroupName"].startswith(prefix)]
    elbv2, rds = client(endpoint, "elbv2"), client(endpoint, "rds")
    found += [b["LoadBalancerName"] for b in elbv2.describe_load_balancers()["LoadBalancers"]
              if b["LoadBalancerName"].startswith(prefix)]  # fmt: skip
    found += [t["TargetGroupName"] for t in elbv2.describe_target_groups()["TargetGroups"]
              if t["TargetGroupName"].startswith(prefix)]  # fmt: skip
    found += [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]
              if prefix in d["DBInstanceIdentifier"]]  # fmt: skip
    found += [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]
              if g["DBSubnetGroupName"].startswith(prefix)]  # fmt: skip
    parameters = client(endpoint, "ssm").get_parameters_by_path(Path=f"/{prefix}", Recursive=True)["Parameters"]
    found += [parameter["Name"] for parameter in parameters]
    found += [s["Name"] for s in client(endpoint, "secretsmanager").list_secrets()["SecretList"]
              if s["Name"].startswith(prefix)]  # fmt: skip
    return found
