"""A whole deployment, in the order its parts depend on each other: what `manage.py provision` makes (or finds, or
would make) and `manage.py deprovision` removes, and the environment the hosts need to use it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from autoscale.providers.ec2 import FLEET_TAG
from autoscale.providers.ec2_boot import deployment_environment, render_user_data, worker_environment
from deploy.account.buckets import Bucket
from deploy.account.group import AutoScalingGroup
from deploy.account.iam import InstanceProfile, Role, render_policy
from deploy.account.launch_template import LaunchTemplate
from deploy.account.names import Names
from deploy.account.network import SecurityGroup, default_vpc, web_ingress
from deploy.account.queues import Queue
from deploy.account.reconcile import Ledger, Outcome, Resource, ensure, remove
from deploy.provision import QueuePlan, queue_attributes


@dataclass(frozen=True)
class Options:
    image_id: str = ""  # the baked worker image; without it there is no launch template yet
    instance_type: str = ""
    vpc_id: str = ""
    expire_inputs_days: int | None = None
    subnets: tuple[str, ...] = ()  # given: an Auto Scaling group across them, for the asg provider
    max_workers: int = 0  # the group's MaxSize (default: AUTOSCALE_MAX)


@dataclass(frozen=True)
class Provisioned:
    environment: dict[str, str]  # what the web host (and the autoscaler) reads
    web_host_profile: str  # to launch the web host with
    web_host_group: str


class Deployment:
    def __init__(self, names: Names, region: str, client: Callable[[str], Any]) -> None:
        self.names = names
        self.region = region
        self.client = client
        self._account = ""

    @property
    def account(self) -> str:
        """The account the credentials belong to; asking first also tells missing credentials apart at once."""
        if not self._account:
            self._account = str(self.client("sts").get_caller_identity()["Account"])
        return self._account

    def queue_plan(self) -> QueuePlan:
        return dataclasses.replace(QueuePlan.from_settings(), prefix=self.names.queue_prefix)

    def shared_environment(self) -> dict[str, str]:
        """What every host of the deployment (web host and workers) is told."""
        plan = self.queue_plan()
        return deployment_environment(
            region=self.region, input_bucket=self.names.input_bucket, output_bucket=self.names.output_bucket,
            queue_prefix=plan.prefix, visibility_timeout=plan.visibility_timeout,
            wait_time_seconds=plan.wait_time_seconds, max_receive_count=plan.max_receive_count,
        )  # fmt: skip

    # --- the parts -------------------------------------------------------------------------------------------
    def buckets(self, expire_inputs_days: int | None = None) -> list[Bucket]:
        s3, tags = self.client("s3"), self.names.tags()
        return [Bucket(s3, self.names.input_bucket, self.region, tags, expire_inputs_days),
                Bucket(s3, self.names.output_bucket, self.region, tags)]  # fmt: skip

    def queues(self) -> list[Queue]:
        plan, sqs = self.queue_plan(), self.client("sqs")
        dead_letter_arn = f"arn:aws:sqs:{self.region}:{self.account}:{plan.prefix}{plan.dead_letter}"
        attributes = queue_attributes(plan, dead_letter_arn)
        return [Queue(sqs, plan.prefix + logical, attributes[logical], self.names.tags())
                for logical in (plan.dead_letter, plan.classify, plan.results)]  # fmt: skip

    def roles(self) -> list[Role | InstanceProfile]:
        iam, names = self.client("iam"), self.names
        values = {
            "REGION": self.region, "ACCOUNT_ID": self.account, "INPUT_BUCKET": names.input_bucket,
            "OUTPUT_BUCKET": names.output_bucket, "QUEUE_PREFIX": names.queue_prefix, "FLEET_TAG": names.fleet,
            "WORKER_ROLE": names.worker_role, "ASG_NAME": names.worker_group,
        }  # fmt: skip
        return [
            Role(iam, names.worker_role, render_policy("worker-policy.json", values), names.tags()),
            InstanceProfile(iam, names.worker_role, names.worker_role),
            Role(iam, names.web_host_role, render_policy("web-host-policy.json", values), names.tags()),
            InstanceProfile(iam, names.web_host_role, names.web_host_role),
        ]

    def security_groups(self, vpc_id: str | None) -> list[SecurityGroup]:
        ec2, names = self.client("ec2"), self.names
        return [
            SecurityGroup(ec2, names.worker_security_group, vpc_id, "classifier workers: no inbound traffic",
                          names.tags()),
            SecurityGroup(ec2, names.web_security_group, vpc_id, "classifier web host: HTTP and HTTPS",
                          names.tags(), web_ingress()),
        ]  # fmt: skip

    def launch_template(self, options: Options, worker_group: str) -> LaunchTemplate:
        # Retiring by default: the ec2 provider says otherwise, launch by launch, for the workers that hold its floor.
        environment = worker_environment(self.shared_environment(), retires=True)
        if options.subnets:
            environment["AUTOSCALE_GROUP"] = self.names.worker_group  # a retiring worker leaves it (autoscale/leave.py)
        user_data = render_user_data(environment)
        return LaunchTemplate(
            self.client("ec2"), self.names.launch_template, options.image_id,
            options.instance_type or settings.EC2_INSTANCE_TYPE, self.names.worker_role, [worker_group],
            user_data, self.names.fleet, self.names.tags(),
        )  # fmt: skip

    # --- the two commands ------------------------------------------------------------------------------------
    def provision(self, options: Options, ledger: Ledger, *, dry_run: bool) -> Provisioned:
        """Everything, in dependency order."""
        for resource in [*self.buckets(options.expire_inputs_days), *self.queues(), *self.roles()]:
            ensure(resource, ledger, dry_run=dry_run)
        vpc_id = options.vpc_id or default_vpc(self.client("ec2"))
        worker_group, web_group = (ensure(group, ledger, dry_run=dry_run) for group in self.security_groups(vpc_id))
        environment = {
            **self.shared_environment(),
            "AUTOSCALE_PROVIDER": "ec2",
            "EC2_FLEET_TAG": self.names.fleet,
            "EC2_INSTANCE_PROFILE": self.names.worker_role,
            "EC2_SECURITY_GROUP_IDS": worker_group or "<made by provision>",
        }
        if options.image_id:
            template = ensure(self.launch_template(options, worker_group), ledger, dry_run=dry_run)
            environment["EC2_LAUNCH_TEMPLATE"] = template or "<made by provision>"
            if options.subnets:
                ensure(self.group(template, options), ledger, dry_run=dry_run)
                environment.update({"AUTOSCALE_PROVIDER": "asg", "AUTOSCALE_GROUP": self.names.worker_group})
        else:
            ledger.add(Outcome("skipped", "launch template", self.names.launch_template,
                               detail="no --ami yet: bake a worker image (deploy/worker/), then run provision again "
                                      "with --ami"))  # fmt: skip
        return Provisioned(environment, self.names.web_host_role, web_group or "<made by provision>")

    def group(self, launch_template_id: str, options: Options) -> AutoScalingGroup:
        return AutoScalingGroup(self.client("autoscaling"), self.names.worker_group, launch_template_id,
                                list(options.subnets), options.max_workers or settings.AUTOSCALE_MAX,
                                self.names.tags())  # fmt: skip

    def deprovision(self, ledger: Ledger, *, dry_run: bool) -> None:
        """The group first (it would replace instances ended under it), then the instances left (nothing else can go
        while they hold the security groups and the profile), then the rest in the reverse order of provision,
        buckets emptied."""
        remove(self.group("", Options()), ledger, dry_run=dry_run)
        self.terminate_instances(ledger, dry_run=dry_run)
        template = LaunchTemplate(self.client("ec2"), self.names.launch_template, "", "", "", [], "",
                                  self.names.fleet, self.names.tags())  # fmt: skip
        parts: list[Resource] = [template, *reversed(self.security_groups(None))]
        iam = self.client("iam")
        for role in (self.names.web_host_role, self.names.worker_role):
            parts += [InstanceProfile(iam, role, role), Role(iam, role, {}, self.names.tags())]
        parts += [*reversed(self.queues()), *self.buckets()]
        for part in parts:
            remove(part, ledger, dry_run=dry_run)

    def terminate_instances(self, ledger: Ledger, *, dry_run: bool) -> None:
        ec2 = self.client("ec2")
        ledger.working_on = f"instances of fleet {self.names.fleet}"
        alive = ["pending", "running", "stopping", "stopped"]
        filters = [{"Name": f"tag:{FLEET_TAG}", "Values": [self.names.fleet]},
                   {"Name": "instance-state-name", "Values": alive}]  # fmt: skip
        ids = [instance["InstanceId"]
               for page in ec2.get_paginator("describe_instances").paginate(Filters=filters)
               for reservation in page["Reservations"] for instance in reservation["Instances"]]  # fmt: skip
        if not ids:
            return
        if dry_run:
            for instance_id in ids:
                ledger.add(Outcome("would delete", "instance", instance_id))
            return
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids, WaiterConfig={"Delay": 5, "MaxAttempts": 60})
        for instance_id in ids:
            ledger.add(Outcome("deleted", "instance", instance_id))
