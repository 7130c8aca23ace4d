"""The web tier of a deployment: web hosts behind an Application Load Balancer, their database, their configuration
and secret, and the security groups that let only the balancer reach the hosts and only the hosts reach the
database. `Deployment` (deploy/account/deployment.py) makes it after the worker side, from the same image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from autoscale.providers.ec2_boot import render_user_data
from deploy.account import database
from deploy.account.balancer import Listeners, LoadBalancer, TargetGroup
from deploy.account.configuration import DATABASE_PASSWORD, GENERATED, Parameters, Secret, database_password
from deploy.account.database import DatabaseInstance, DatabaseSubnetGroup
from deploy.account.group import AutoScalingGroup
from deploy.account.launch_template import LaunchTemplate
from deploy.account.names import Names
from deploy.account.network import SecurityGroup, ingress_from, web_ingress
from deploy.account.plan import Options
from deploy.account.reconcile import Ledger, Resource, ensure

WEB_USER_DATA = Path(settings.BASE_DIR) / "deploy" / "web" / "user-data.sh"
WEB_PORT = 80  # classifier-web.service's port, where the balancer sends requests


@dataclass
class WebTier:
    names: Names
    region: str
    client: Callable[[str], Any]

    def balancer_security_group(self, vpc_id: str | None) -> SecurityGroup:
        return SecurityGroup(self.client("ec2"), self.names.balancer_security_group, vpc_id,
                             "classifier load balancer: HTTP and HTTPS", self.names.tags(), web_ingress())  # fmt: skip

    def web_security_group(self, vpc_id: str | None, balancer_group: str) -> SecurityGroup:
        """Behind the balancer, the web hosts take requests from it alone."""
        return SecurityGroup(self.client("ec2"), self.names.web_security_group, vpc_id,
                             "classifier web host: HTTP and HTTPS", self.names.tags(),
                             ingress_from(balancer_group, WEB_PORT))  # fmt: skip

    def database_security_group(self, vpc_id: str | None, web_group: str) -> SecurityGroup:
        return SecurityGroup(self.client("ec2"), self.names.database_security_group, vpc_id,
                             "classifier database: PostgreSQL from the web hosts", self.names.tags(),
                             ingress_from(web_group, database.PORT))  # fmt: skip

    def secret(self, database_url: str = "") -> Secret:
        """With a database of the operator's, its URL; with RDS, the password (and no URL of an earlier choice,
        which the hosts would otherwise prefer)."""
        generated = dict(GENERATED)
        if not database_url:
            generated[DATABASE_PASSWORD] = database_password
        given = {"DATABASE_URL": database_url} if database_url else {}
        dropped = () if database_url else ("DATABASE_URL",)
        return Secret(self.client("secretsmanager"), self.names.secret, generated, given, self.names.tags(), dropped)

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

    def environment(self, worker_side: dict[str, str], balancer_dns: str, options: Options,
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

    def launch_template(self, options: Options, web_group: str) -> LaunchTemplate:
        host = {"AWS_REGION": self.region, "CLASSIFIER_PARAMETERS": self.names.parameter_path,
                "CLASSIFIER_SECRET": self.names.secret}  # fmt: skip
        user_data = render_user_data(host, WEB_USER_DATA, "@HOST_ENVIRONMENT@")
        return LaunchTemplate(
            self.client("ec2"), self.names.web_launch_template, options.image_id, options.web_instance_type,
            self.names.web_host_role, [web_group] if web_group else [], user_data, f"{self.names.fleet}-web",
            self.names.tags(),
        )  # fmt: skip

    def group(self, launch_template_id: str, options: Options, target_group_arn: str) -> AutoScalingGroup:
        return AutoScalingGroup(self.client("autoscaling"), self.names.web_group, launch_template_id,
                                list(options.subnets), options.web_hosts, self.names.tags(), fixed_size=True,
                                target_group_arns=[target_group_arn] if target_group_arn else [])  # fmt: skip

    def provision(self, options: Options, worker_side: dict[str, str], vpc_id: str, balancer_group: str,
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
        values = self.environment(worker_side, dns, options, endpoint)
        ensure(Parameters(self.client("ssm"), self.names.parameter_path, values, self.names.tags()), ledger,
               dry_run=dry_run)  # fmt: skip
        template = ensure(self.launch_template(options, web_group), ledger, dry_run=dry_run)
        ensure(self.group(template, options, target_arn), ledger, dry_run=dry_run)
        return f"{'https' if options.certificate_arn else 'http'}://{dns}"

    def removable(self) -> list[Resource]:
        """What deprovision removes of the web tier once its group and instances are gone, in order: the balancer
        before its target group, the database before its subnet group."""
        balancer, targets = self.balancer_parts(None, [], "")
        subnet_group, instance = self.database_parts([], "", "", "")
        return [balancer, targets, instance, subnet_group,
                Parameters(self.client("ssm"), self.names.parameter_path, {}, self.names.tags()), self.secret(),
                LaunchTemplate(self.client("ec2"), self.names.web_launch_template, "", "", "", [], "",
                               self.names.fleet, self.names.tags())]  # fmt: skip
