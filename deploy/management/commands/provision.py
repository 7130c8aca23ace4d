from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common import aws
from deploy.account.deployment import Deployment
from deploy.account.errors import STOPS, explain
from deploy.account.names import InvalidPrefix, Names
from deploy.account.plan import Options
from deploy.account.reconcile import Ledger
from deploy.provision import QueuePlan, ensure_buckets, ensure_queues


class Command(BaseCommand):
    help = (
        "With --prefix: create or update, idempotently, everything one deployment needs in an AWS account (buckets, "
        "queues, IAM roles and instance profiles, security groups, the workers' launch template and group; with "
        "--subnets the web tier too: a load balancer, web hosts, their configuration and secret, the database), "
        "then print the service's URL or the web host's environment. Without it: the queues and buckets the "
        "settings name (the local stack's)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--prefix", help="names every resource: <prefix>-inputs, <prefix>-classify, ...")
        parser.add_argument("--region", help="default: AWS_REGION")
        parser.add_argument("--ami", default="", help="the baked worker image (deploy/worker/); makes the template")
        parser.add_argument("--instance-type", default="", help="workers' type (default: EC2_INSTANCE_TYPE)")
        parser.add_argument("--vpc-id", default="", help="default: the region's default VPC")
        parser.add_argument("--expire-inputs-days", type=int, help="delete uploaded images after this many days")
        parser.add_argument("--subnets", default="", help="comma-separated: also an Auto Scaling group across them")
        parser.add_argument("--max", type=int, default=0, dest="max_workers",
                            help="the group's MaxSize (default: AUTOSCALE_MAX)")  # fmt: skip
        web = parser.add_argument_group("the web tier (with --ami and --subnets: web hosts behind a load balancer)")
        web.add_argument("--web-hosts", type=int, default=1, help="how many (default 1; 0: no web tier)")
        web.add_argument("--web-instance-type", default="t3.small", help="the web hosts' type (default t3.small)")
        web.add_argument("--database", choices=["rds"], default="", help="rds: an encrypted RDS PostgreSQL instance")
        web.add_argument("--database-url", default="", help="or an existing PostgreSQL (kept in the secret)")
        web.add_argument("--database-class", default="db.t4g.micro", help="the RDS instance class")
        web.add_argument("--certificate-arn", default="", help="an ACM certificate: HTTPS, with HTTP redirected")
        parser.add_argument("--dry-run", action="store_true", help="print the plan; create nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["prefix"]:
            self._settings_queues_and_buckets()
            return
        if options["expire_inputs_days"] is not None and options["expire_inputs_days"] < 1:
            raise CommandError("--expire-inputs-days must be at least 1")
        try:
            names = Names(options["prefix"])
        except InvalidPrefix as exc:
            raise CommandError(str(exc)) from None
        region = options["region"] or settings.AWS_REGION
        deployment = Deployment(names, region, lambda service: aws.client(service, region=region))
        subnets = tuple(subnet.strip() for subnet in options["subnets"].split(",") if subnet.strip())
        if subnets and not options["ami"]:
            raise CommandError("--subnets makes an Auto Scaling group from the launch template: give --ami too")
        if options["max_workers"] < 0:
            raise CommandError("--max must not be negative")
        web_hosts = options["web_hosts"] if options["ami"] and subnets else 0
        self._check_web_tier(web_hosts, subnets, options)
        plan = Options(options["ami"], options["instance_type"], options["vpc_id"], options["expire_inputs_days"],
                       subnets, options["max_workers"], web_hosts, options["web_instance_type"], options["database"],
                       options["database_url"], options["database_class"], options["certificate_arn"])  # fmt: skip
        ledger = Ledger()
        try:
            provisioned = deployment.provision(plan, ledger, dry_run=options["dry_run"])
        except STOPS as exc:
            self._print(ledger)
            raise CommandError(explain(exc, ledger, "provision")) from None
        self._print(ledger)
        if options["dry_run"]:
            self.stdout.write("dry run: nothing was created or changed")
        elif not ledger.changed():
            self.stdout.write("no changes: everything was already as it should be")
        if provisioned.url:
            self.stdout.write(f"\nthe service: {provisioned.url} (web hosts read their configuration from SSM "
                              f"parameters {names.parameter_path}/ and secret {names.secret})")  # fmt: skip
            self.stdout.write("# the deployment's environment, for the autoscaler and operators' commands:")
        else:
            self.stdout.write(
                "\n# the web host's environment, with its DJANGO_SECRET_KEY, DATABASE_URL, ALLOWED_HOSTS:"
            )
        for key, value in provisioned.environment.items():
            self.stdout.write(f"{key}={value}")
        if not provisioned.url:
            self.stdout.write(f"# launch the web host with instance profile {provisioned.web_host_profile} "
                              f"and security group {provisioned.web_host_group}")  # fmt: skip

    def _check_web_tier(self, web_hosts: int, subnets: tuple[str, ...], options: dict[str, Any]) -> None:
        if options["web_hosts"] < 0:
            raise CommandError("--web-hosts must not be negative")
        if options["database"] and options["database_url"]:
            raise CommandError("--database rds makes a database; --database-url names an existing one: not both")
        if options["database_url"] and not options["database_url"].startswith(("postgres://", "postgresql://")):
            raise CommandError("--database-url must be a PostgreSQL URL (postgres://user:password@host:5432/name)")
        if not web_hosts:
            return
        if len(subnets) < 2:
            raise CommandError("a load balancer spans two Availability Zones: give --subnets in two of them "
                               "(or --web-hosts 0 for no web tier)")  # fmt: skip
        if not (options["database"] or options["database_url"]):
            raise CommandError("the web tier needs a database: --database rds, or --database-url for an existing "
                               "one (or --web-hosts 0 for no web tier)")  # fmt: skip

    def _print(self, ledger: Ledger) -> None:
        for outcome in ledger.outcomes:
            self.stdout.write(outcome.line())

    def _settings_queues_and_buckets(self) -> None:
        try:
            urls = ensure_queues(aws.client("sqs"), QueuePlan.from_settings())
            if settings.STORAGE_BACKEND == "s3":
                ensure_buckets(
                    aws.client("s3"), [settings.S3_INPUT_BUCKET, settings.S3_OUTPUT_BUCKET], settings.AWS_REGION
                )
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"provisioning failed: {exc}") from None
        for name, url in urls.items():
            self.stdout.write(f"{name}: {url}")
