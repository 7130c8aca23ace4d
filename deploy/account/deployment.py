"""A whole deployment, in the order its parts depend on each other: what `manage.py provision` makes (or finds, or
would make) and `manage.py deprovision` removes, and the environment the hosts need to use it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from autoscale.providers.ec2 import FLEET_TAG
from autoscale.providers.ec2_boot import deployment_environment, render_user_data, worker_environment
from deploy.account import database
from deploy.account.balancer import Listeners, LoadBalancer, TargetGroup
from deploy.account.buckets import Bucket
from deploy.account.configuration import DATABASE_PASSWORD, GENERATED, Parameters, Secret, database_password
from deploy.account.database import DatabaseInstance, DatabaseSubnetGroup
from deploy.account.group import AutoScalingGroup
from deploy.account.iam import InstanceProfile, Role, render_policy
from deploy.account.launch_template import LaunchTemplate
from deploy.account.names import OWNER_TAG, Names
from deploy.account.network import SecurityGroup, default_vpc, ingress_from, web_ingress
from deploy.account.queues import Queue
from deploy.account.reconcile import Ledger, Outcome, Resource, ensure, remove
from deploy.provision import QueuePlan, queue_attributes

WEB_USER_DATA = Path(settings.BASE_DIR) / "deploy" / "web" / "user-data.sh"
WEB_PORT = 80  # classifier-web.service's port, where the balancer sends requests


@dataclass(frozen=True)
class Options:
    image_id: str = ""  # the baked worker image; without it there is no launch template yet
    instance_type: str = ""
    vpc_id: str = ""
    expire_inputs_days: int | None = None
    subnets: tuple[str, ...] = ()  # given: an Auto Scaling group across them, for the asg provider
    max_workers: int = 0  # the group's MaxSize (default: AUTOSCALE_MAX)
    # The web tier (with an image and subnets): this many web hosts behind a load balancer, and their database.
    web_hosts: int = 0
    web_instance_type: str = "t3.small"
    database: str = ""  # "rds": made here; "" with database_url: an existing one
    database_url: str = ""
    database_class: str = "db.t4g.micro"
    certificate_arn: str = ""  # an ACM certificate: HTTPS on 443, HTTP redirected to it

    @property
    def web_tier(self) -> bool:
        return bool(self.image_id and self.subnets and self.web_hosts)


@dataclass(frozen=True)
class Provisioned:
    environment: dict[str, str]  # what the web host (and the autoscaler) reads, secrets left out
    web_host_profile: str  # to launch the web host with
    web_host_group: str
    url: str = ""  # the load balancer's, with the web tier


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

    def balancer_security_group(self, vpc_id: str | None) -> SecurityGroup:
        return SecurityGroup(self.client("ec2"), self.names.balancer_security_group, vpc_id,
                             "classifier load balancer: HTTP and HTTPS", self.names.tags(), web_ingress())  # fmt: skip

    def web_tier_security_group(self, vpc_id: str | None, balancer_group: str) -> SecurityGroup:
        """Behind the balancer, the web hosts take requests from it alone."""
        return SecurityGroup(self.client("ec2"), self.names.web_security_group, vpc_id,
                             "classifier web host: HTTP and HTTPS", self.names.tags(),
                             ingress_from(balancer_group, WEB_PORT))  # fmt: skip

    def database_security_group(self, vpc_id: str | None, web_group: str) -> SecurityGroup:
        return SecurityGroup(self.client("ec2"), self.names.database_security_group, vpc_id,
                             "classifier database: PostgreSQL from the web hosts", self.names.tags(),
                             ingress_from(web_group, database.PORT))  # fmt: skip

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
            balancer_group = ensure(self.balancer_security_group(vpc_id), ledger, dry_run=dry_run)
            web_group = ensure(self.web_tier_security_group(vpc_id, balancer_group), ledger, dry_run=dry_run)
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
        url = self.provision_web_tier(options, environment, vpc_id, balancer_group, web_group, ledger,
                                      dry_run=dry_run)  # fmt: skip
        return Provisioned(environment, self.names.web_host_role, web_group or "<made by provision>", url)

    # --- the web tier ----------------------------------------------------------------------------------------
    def secret(self, database_url: str = "") -> Secret:
        generated = dict(GENERATED)
        if not database_url:
            generated[DATABASE_PASSWORD] = database_password
        given = {"DATABASE_URL": database_url} if database_url else {}
        return Secret(self.client("secretsmanager"), self.names.secret, generated, given, self.names.tags())

    def database_parts(self, subnets: list[str], database_group: str, password: str,
                       instance_class: str) -> tuple[DatabaseSubnetGroup, DatabaseInstance]:  # fmt: skip
        rds, names = self.client("rds"), self.names
        subnet_group = DatabaseSubnetGroup(rds, names.database_subnet_group, subnets, names.tags())
        instance = DatabaseInstance(rds, names.database, instance_class, names.database_subnet_group,
                                    [database_group] if database_group else [], password, names.tags())  # fmt: skip
        return subnet_group, instance

    def balancer_parts(
        self, vpc_id: str | None, subnets: list[str], balancer_group: str
    ) -> tuple[LoadBalancer, TargetGroup]:
        elbv2, names = self.client("elbv2"), self.names
        balancer = LoadBalancer(elbv2, names.balancer, subnets, [balancer_group] if balancer_group else [],
                                names.tags())  # fmt: skip
        return balancer, TargetGroup(elbv2, names.target_group, vpc_id, names.tags())

    def web_environment(self, worker_side: dict[str, str], balancer_dns: str, options: Options,
                        database_endpoint: dict[str, Any] | None) -> dict[str, str]:  # fmt: skip
        """What the web hosts read from their parameters: everything but the secrets."""
        environment = {**worker_side, "SERVICE_MODE": "production", "DJANGO_ALLOWED_HOSTS": balancer_dns}
        if not options.certificate_arn:  # plain HTTP to the balancer: no redirect to an HTTPS nobody answers
            environment.update({"DJANGO_SSL_REDIRECT": "false", "DJANGO_SECURE_COOKIES": "false",
                                "DJANGO_HSTS_SECONDS": "0"})  # fmt: skip
        if database_endpoint is not None:
            environment.update({"DATABASE_HOST": str(database_endpoint["Address"]),
                                "DATABASE_PORT": str(database_endpoint["Port"]),
                                "DATABASE_NAME": database.DATABASE_NAME,
                                "DATABASE_USER": database.MASTER_USER})  # fmt: skip
        return environment

    def web_launch_template(self, options: Options, web_group: str) -> LaunchTemplate:
        host = {"AWS_REGION": self.region, "CLASSIFIER_PARAMETERS": self.names.parameter_path,
                "CLASSIFIER_SECRET": self.names.secret}  # fmt: skip
        user_data = render_user_data(host, WEB_USER_DATA, "@HOST_ENVIRONMENT@")
        return LaunchTemplate(
            self.client("ec2"), self.names.web_launch_template, options.image_id, options.web_instance_type,
            self.names.web_host_role, [web_group] if web_group else [], user_data, f"{self.names.fleet}-web",
            self.names.tags(),
        )  # fmt: skip

    def web_group(self, launch_template_id: str, options: Options, target_group_arn: str) -> AutoScalingGroup:
        return AutoScalingGroup(self.client("autoscaling"), self.names.web_group, launch_template_id,
                                list(options.subnets), options.web_hosts, self.names.tags(), fixed_size=True,
                                target_group_arns=[target_group_arn] if target_group_arn else [])  # fmt: skip

    def provision_web_tier(self, options: Options, worker_side: dict[str, str], vpc_id: str, balancer_group: str,
                           web_group: str, ledger: Ledger, *, dry_run: bool) -> str:  # fmt: skip
        """The secret, the database, the balancer, the configuration, then the hosts that read them. Returns the
        balancer's URL."""
        subnets = list(options.subnets)
        secret = self.secret(options.database_url)
        ensure(secret, ledger, dry_run=dry_run)
        endpoint: dict[str, Any] | None = None
        if options.database == "rds":
            database_group = ensure(self.database_security_group(vpc_id, web_group), ledger, dry_run=dry_run)
            stored = secret.describe()
            password = stored["values"][DATABASE_PASSWORD] if stored else ""
            subnet_group, instance = self.database_parts(subnets, database_group, password, options.database_class)
            ensure(subnet_group, ledger, dry_run=dry_run)
            ensure(instance, ledger, dry_run=dry_run)
            described = instance.describe()
            endpoint = described["Endpoint"] if described else {"Address": "<made by provision>", "Port": 5432}
        balancer, targets = self.balancer_parts(vpc_id, subnets, balancer_group)
        target_arn = ensure(targets, ledger, dry_run=dry_run)
        balancer_arn = ensure(balancer, ledger, dry_run=dry_run)
        ensure(Listeners(self.client("elbv2"), balancer_arn, target_arn, options.certificate_arn, self.names.tags()),
               ledger, dry_run=dry_run)  # fmt: skip
        described_balancer = balancer.describe()
        dns = described_balancer["DNSName"] if described_balancer else "<made by provision>"
        values = self.web_environment(worker_side, dns, options, endpoint)
        ensure(Parameters(self.client("ssm"), self.names.parameter_path, values, self.names.tags()), ledger,
               dry_run=dry_run)  # fmt: skip
        template = ensure(self.web_launch_template(options, web_group), ledger, dry_run=dry_run)
        ensure(self.web_group(template, options, target_arn), ledger, dry_run=dry_run)
        return f"{'https' if options.certificate_arn else 'http'}://{dns}"

    def group(self, launch_template_id: str, options: Options) -> AutoScalingGroup:
        return AutoScalingGroup(self.client("autoscaling"), self.names.worker_group, launch_template_id,
                                list(options.subnets), options.max_workers or settings.AUTOSCALE_MAX,
                                self.names.tags())  # fmt: skip

    def deprovision(self, ledger: Ledger, *, dry_run: bool) -> None:
        """The groups first (they would replace instances ended under them), then the instances left (nothing else
        can go while they hold the security groups and the profiles), the balancer before its target group and
        the groups it sits in, the database before its subnet group, then the rest in the reverse order of
        provision, buckets emptied."""
        remove(self.web_group("", Options(), ""), ledger, dry_run=dry_run)
        remove(self.group("", Options()), ledger, dry_run=dry_run)
        self.terminate_instances(ledger, dry_run=dry_run)
        balancer, targets = self.balancer_parts(None, [], "")
        subnet_group, instance = self.database_parts([], "", "", "")
        parts: list[Resource] = [balancer, targets, instance, subnet_group,
                                 Parameters(self.client("ssm"), self.names.parameter_path, {}, self.names.tags()),
                                 self.secret()]  # fmt: skip
        ec2 = self.client("ec2")
        for name in (self.names.web_launch_template, self.names.launch_template):
            parts.append(LaunchTemplate(ec2, name, "", "", "", [], "", self.names.fleet, self.names.tags()))
        parts += [self.database_security_group(None, ""), *reversed(self.security_groups(None)),
                  self.balancer_security_group(None)]  # fmt: skip
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
