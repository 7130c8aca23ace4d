"""A whole deployment, in the order its parts depend on each other: what `manage.py provision` makes (or finds, or
would make) and `manage.py deprovision` removes, and the environment the hosts need to use it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from django.conf import settings

from autoscale.providers.ec2 import FLEET_TAG
from autoscale.providers.ec2_boot import deployment_environment, render_user_data, worker_environment
from deploy.account.buckets import Bucket
from deploy.account.group import AutoScalingGroup
from deploy.account.iam import InstanceProfile, Role, render_policy
from deploy.account.launch_template import LaunchTemplate
from deploy.account.names import OWNER_TAG, Names
from deploy.account.network import SecurityGroup, default_vpc, web_ingress
from deploy.account.plan import Options, Provisioned
from deploy.account.queues import Queue
from deploy.account.reconcile import Ledger, Outcome, Resource, ensure, remove
from deploy.account.web_tier import WebTier
from deploy.provision import QueuePlan, queue_attributes


class Deployment:
    def __init__(self, names: Names, region: str, client: Callable[[str], Any]) -> None:
        self.names = names
        self.region = region
        self.client = client
        self._account = ""
        self.web = WebTier(names, region, client)

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
        # The artifacts bucket holds the release archives `manage.py bake` builds images from.
        return [Bucket(s3, self.names.input_bucket, self.region, tags, expire_inputs_days),
                Bucket(s3, self.names.output_bucket, self.region, tags),
                Bucket(s3, self.names.artifacts_bucket, self.region, tags)]  # fmt: skip

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
            "WORKER_ROLE": names.worker_role, "ASG_NAME": names.worker_group, "DEPLOYMENT_NAME": names.prefix,
        }  # fmt: skip
        return [
            Role(iam, names.worker_role, render_policy("worker-policy.json", values), names.tags()),
            InstanceProfile(iam, names.worker_role, names.worker_role),
            Role(iam, names.web_host_role, render_policy("web-host-policy.json", values), names.tags()),
            InstanceProfile(iam, names.web_host_role, names.web_host_role),
        ]

    def security_groups(self, vpc_id: str | None) -> list[SecurityGroup]:
        """Workers and web host (a hand-launched one: HTTP and HTTPS from anywhere)."""
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
        worker_group = ensure(self.security_groups(vpc_id)[0], ledger, dry_run=dry_run)
        if options.web_tier:
            balancer_group = ensure(self.web.balancer_security_group(vpc_id), ledger, dry_run=dry_run)
            web_group = ensure(self.web.web_security_group(vpc_id, balancer_group), ledger, dry_run=dry_run)
        else:
            web_group = ensure(self.security_groups(vpc_id)[1], ledger, dry_run=dry_run)
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
                environment.update({"AUTOSCALE_PROVIDER": "asg", "AUTOSCALE_GROUP": self.names.worker_group,
                                    "AUTOSCALE_MAX": str(options.max_workers or settings.AUTOSCALE_MAX)})  # fmt: skip
        else:
            ledger.add(Outcome("skipped", "launch template", self.names.launch_template,
                               detail="no --ami yet: bake an image (manage.py bake), then run provision again "
                                      "with --ami"))  # fmt: skip
        if not options.web_tier:
            return Provisioned(environment, self.names.web_host_role, web_group or "<made by provision>")
        url = self.web.provision(options, environment, vpc_id, balancer_group, web_group, ledger, dry_run=dry_run)
        return Provisioned(environment, self.names.web_host_role, web_group or "<made by provision>", url)

    def group(self, launch_template_id: str, options: Options) -> AutoScalingGroup:
        return AutoScalingGroup(self.client("autoscaling"), self.names.worker_group, launch_template_id,
                                list(options.subnets), options.max_workers or settings.AUTOSCALE_MAX,
                                self.names.tags())  # fmt: skip

    def deprovision(self, ledger: Ledger, *, dry_run: bool) -> None:
        """The groups first (they would replace instances ended under them), then the instances left (nothing else
        can go while they hold the security groups and the profiles), the balancer before its target group and
        the groups it sits in, the database before its subnet group, then the rest in the reverse order of
        provision, buckets emptied."""
        remove(self.web.group("", Options(), ""), ledger, dry_run=dry_run)
        remove(self.group("", Options()), ledger, dry_run=dry_run)
        self.terminate_instances(ledger, dry_run=dry_run)
        parts: list[Resource] = [
            *self.web.removable(),
            LaunchTemplate(self.client("ec2"), self.names.launch_template, "", "", "", [], "", self.names.fleet,
                           self.names.tags()),
            self.web.database_security_group(None, ""), *reversed(self.security_groups(None)),
            self.web.balancer_security_group(None),
        ]  # fmt: skip
        iam = self.client("iam")
        for role in (self.names.web_host_role, self.names.worker_role):
            parts += [InstanceProfile(iam, role, role), Role(iam, role, {}, self.names.tags())]
        parts += [*reversed(self.queues()), *self.buckets()]
        for part in parts:
            remove(part, ledger, dry_run=dry_run)
        self.deregister_images(ledger, dry_run=dry_run)

    def deregister_images(self, ledger: Ledger, *, dry_run: bool) -> None:
        """The images `manage.py bake` made for this deployment, and their snapshots."""
        ec2 = self.client("ec2")
        ledger.working_on = f"images of deployment {self.names.prefix}"
        filters = [{"Name": f"tag:{OWNER_TAG}", "Values": [self.names.prefix]}]
        for image in ec2.describe_images(Owners=["self"], Filters=filters)["Images"]:
            if dry_run:
                ledger.add(Outcome("would delete", "image", image["ImageId"]))
                continue
            ec2.deregister_image(ImageId=image["ImageId"])
            for mapping in image.get("BlockDeviceMappings", []):
                if mapping.get("Ebs", {}).get("SnapshotId"):
                    ec2.delete_snapshot(SnapshotId=mapping["Ebs"]["SnapshotId"])
            ledger.add(Outcome("deleted", "image", image["ImageId"]))

    def terminate_instances(self, ledger: Ledger, *, dry_run: bool) -> None:
        ec2 = self.client("ec2")
        ledger.working_on = f"instances of fleet {self.names.fleet}"
        alive = ["pending", "running", "stopping", "stopped"]
        fleets = [self.names.fleet, f"{self.names.fleet}-web"]  # the workers, and the web hosts
        filters = [{"Name": f"tag:{FLEET_TAG}", "Values": fleets},
                   {"Name": "instance-state-name", "Values": alive}]  # fmt: skip
        builders = [{"Name": f"tag:{OWNER_TAG}", "Values": [self.names.prefix]},
                    {"Name": "instance-state-name", "Values": alive}]  # a bake's, should one be left  # fmt: skip
        ids = sorted({instance["InstanceId"]
                      for where in (filters, builders)
                      for page in ec2.get_paginator("describe_instances").paginate(Filters=where)
                      for reservation in page["Reservations"] for instance in reservation["Instances"]})  # fmt: skip
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
