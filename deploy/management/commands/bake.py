from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common import aws
from deploy.account.errors import STOPS, explain
from deploy.account.names import InvalidPrefix, Names
from deploy.account.reconcile import Ledger
from deploy.bake import Bake, BakeFailed
from deploy.release import pack


class Command(BaseCommand):
    help = (
        "Build the service's image (workers and web hosts) from this checkout: pack it into the deployment's "
        "artifacts bucket, run deploy/worker/bake.sh on a builder instance, image it, terminate it, print the image "
        "id. The same release (commit, or commit and changes) gets its image back without a build."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--prefix", required=True, help="the deployment (its artifacts bucket and tags)")
        parser.add_argument("--region", help="default: AWS_REGION")
        parser.add_argument("--base-ami", default="", help="default: the latest Amazon Linux 2023 (x86_64)")
        parser.add_argument("--instance-type", default="t3.large", help="the builder's type (default t3.large)")
        parser.add_argument("--subnet", default="", help="where the builder runs (default: the default VPC's)")
        parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for the build (3600)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            names = Names(options["prefix"])
        except InvalidPrefix as exc:
            raise CommandError(str(exc)) from None
        if options["timeout"] <= 0:
            raise CommandError("--timeout must be positive")
        region = options["region"] or settings.AWS_REGION
        try:
            release = pack(settings.BASE_DIR)
        except (OSError, RuntimeError) as exc:
            raise CommandError(f"cannot pack this checkout: {exc}") from None
        bake = Bake(names, region, lambda service: aws.client(service, region=region), release,
                    options["base_ami"], options["instance_type"], options["subnet"], options["timeout"],
                    say=self.stdout.write)  # fmt: skip
        try:
            image = bake.run()
        except BakeFailed as exc:
            raise CommandError(f"bake failed: {exc}") from None
        except STOPS as exc:
            raise CommandError(explain(exc, Ledger(), "bake")) from None
        self.stdout.write(f"image: {image}")
