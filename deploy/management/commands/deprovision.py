from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common import aws
from deploy.account.deployment import Deployment
from deploy.account.errors import STOPS, explain
from deploy.account.names import InvalidPrefix, Names
from deploy.account.reconcile import Ledger


class Command(BaseCommand):
    help = (
        "Remove what `provision --prefix` made, and nothing else (only what carries the deployment's tag): the "
        "fleet's instances first, then the launch template, security groups, roles, queues and the buckets, emptied."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--prefix", required=True)
        parser.add_argument("--region", help="default: AWS_REGION")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--dry-run", action="store_true", help="print what would go; delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            names = Names(options["prefix"])
        except InvalidPrefix as exc:
            raise CommandError(str(exc)) from None
        region = options["region"] or settings.AWS_REGION
        if not (options["yes"] or options["dry_run"]):
            self._confirm(names.prefix, region)
        deployment = Deployment(names, region, lambda service: aws.client(service, region=region))
        ledger = Ledger()
        try:
            deployment.deprovision(ledger, dry_run=options["dry_run"])
        except STOPS as exc:
            self._print(ledger)
            raise CommandError(explain(exc, ledger, "deprovision")) from None
        self._print(ledger)
        if options["dry_run"]:
            self.stdout.write("dry run: nothing was deleted")
        elif not ledger.changed():
            self.stdout.write(f"nothing to remove: no resource of deployment {names.prefix} in {region}")

    def _print(self, ledger: Ledger) -> None:
        for outcome in ledger.outcomes:
            self.stdout.write(outcome.line())

    def _confirm(self, prefix: str, region: str) -> None:
        if not sys.stdin.isatty():
            raise CommandError("deprovision deletes data (the buckets' images and results): pass --yes to confirm")
        self.stdout.write(f"This deletes deployment {prefix} in {region}: its instances, queues and buckets with "
                          "every image and result in them.")  # fmt: skip
        try:
            answer = input(f"Type {prefix} to confirm: ")
        except EOFError:
            answer = ""
        if answer.strip() != prefix:
            raise CommandError("not confirmed: nothing was deleted")
