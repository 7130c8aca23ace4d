from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common import aws
from deploy.account.deployment import Deployment, Options
from deploy.account.errors import STOPS, explain
from deploy.account.names import InvalidPrefix, Names
from deploy.account.reconcile import Ledger
from deploy.provision import QueuePlan, ensure_buckets, ensure_queues


class Command(BaseCommand):
    help = (
        "With --prefix: create or update, idempotently, everything one deployment needs in an AWS account (buckets, "
        "queues, IAM roles and instance profiles, security groups, the workers' launch template), then print the "
        "hosts' environment. Without it: the queues and buckets the settings name (the local stack's)."
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
        plan = Options(options["ami"], options["instance_type"], options["vpc_id"], options["expire_inputs_days"],
                       subnets, options["max_workers"])  # fmt: skip
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
        self.stdout.write("\n# the web host's environment, with its DJANGO_SECRET_KEY, DATABASE_URL, ALLOWED_HOSTS:")
        for key, value in provisioned.environment.items():
            self.stdout.write(f"{key}={value}")
        self.stdout.write(f"# launch the web host with instance profile {provisioned.web_host_profile} "
                          f"and security group {provisioned.web_host_group}")  # fmt: skip

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
