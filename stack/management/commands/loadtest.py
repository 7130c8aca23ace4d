"""`manage.py loadtest`: send images like the CSE546 workload generators do, then print a table of results."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from classifier.images import IMAGE_SUFFIXES
from stack.loadgen import PROTOCOLS, read_expected, run


class Command(BaseCommand):
    help = "Load-test a deployment: N requests over C threads, each waiting for its answer; exit 1 on any error."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8000")
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
