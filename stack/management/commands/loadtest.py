"""`manage.py loadtest`: send images like the CSE546 workload generators do, then print a table of results."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from classifier.images import IMAGE_SUFFIXES
from stack.loadgen import PROTOCOLS, read_expected, run


class Command(BaseCommand):
    help = "Load-test a deployment: N requests over C threads, each waiting for its answer; exit 1 on any error."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--url", help="the service, e.g. http://127.0.0.1:8000")
        target.add_argument("--prefix", help="a provisioned deployment: its load balancer, with its operator token")
        parser.add_argument("--region", help="with --prefix (default: AWS_REGION)")
        parser.add_argument("--images", required=True, type=Path, help="a folder of images")
        parser.add_argument("--requests", type=int, default=100)
        parser.add_argument("--concurrency", type=int, default=100, help="threads (the generators use up to 100)")
        parser.add_argument("--protocol", choices=PROTOCOLS, default="myfile")
        parser.add_argument("--expected", type=Path, help="CSV of name,label to check the answers against")
        parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for one answer")
        parser.add_argument(
            "--token", default=os.environ.get("LOADTEST_TOKEN", ""),
            help="API token for a deployment with API_AUTH on (default: $LOADTEST_TOKEN; an argument shows in ps)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["images"]
        if not folder.is_dir():
            raise CommandError(f"--images {folder} is not a folder")
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise CommandError(f"no images in {folder}")
        if options["requests"] < 1 or options["concurrency"] < 1:
            raise CommandError("--requests and --concurrency must be at least 1")
        expected = None
        if options["expected"]:
            try:
                expected = read_expected(options["expected"])
            except OSError as exc:
                raise CommandError(f"cannot read --expected: {exc}") from None
        if options["prefix"]:
            options["url"], options["token"] = self._deployment(options["prefix"], options["region"])
            self.stdout.write(f"load-testing {options['url']}")
        # tqdm writes its own line endings: the stream itself (call_command's, or the process's), not Django's wrapper.
        with tqdm(total=options["requests"], unit="req", file=options.get("stderr") or sys.stderr) as bar:
            report = run(
                options["url"], images, options["requests"], options["concurrency"], options["protocol"],
                timeout=options["timeout"], expected=expected, progress=bar.update, token=options["token"],
            )  # fmt: skip
        self.stdout.write(report.table())
        for outcome in [o for o in report.outcomes if o.error or o.status != 200][:10]:
            self.stdout.write(f"  {outcome.image}: HTTP {outcome.status} {outcome.error}")
        if not report.ok:
            raise CommandError(f"{report.http_errors} error(s), {report.wrong_labels} wrong label(s)")

    def _deployment(self, prefix: str, region: str | None) -> tuple[str, str]:
        """The deployment's URL (its load balancer) and its operator's API token, read with this machine's AWS
        credentials."""
        import json

        from botocore.exceptions import BotoCoreError, ClientError

        from common import aws
        from deploy.account.names import InvalidPrefix, Names

        try:
            names = Names(prefix)
        except InvalidPrefix as exc:
            raise CommandError(str(exc)) from None
        region = region or settings.AWS_REGION
        try:
            elbv2 = aws.client("elbv2", region=region)
            balancer = elbv2.describe_load_balancers(Names=[names.balancer])["LoadBalancers"][0]
            ports = {listener["Port"] for listener in
                     elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]}  # fmt: skip
            stored = aws.client("secretsmanager", region=region).get_secret_value(SecretId=names.secret)
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"cannot find deployment {prefix}'s load balancer and secret: {exc}") from None
        scheme = "https" if 443 in ports else "http"
        return f"{scheme}://{balancer['DNSName']}", str(json.loads(stored["SecretString"])["OPERATOR_API_TOKEN"])
