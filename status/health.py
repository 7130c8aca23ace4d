"""GET /healthz and GET /readyz, for load balancers and orchestrators.

/healthz: the process answers; it touches no dependency, so a database outage never gets a healthy web tier
restarted. /readyz: what the web tier needs to accept an upload is reachable (the database, SQS, the image
storage); 503 with JSON naming what failed. Its verdict is kept READINESS_CACHE_SECONDS, so a fleet of probes costs
one round of checks per interval, and each check makes one quick try.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from common import aws
from common.outages import OutageLog
from status.snapshot import QUICK, queue_depth

logger = logging.getLogger(__name__)

Check = Callable[[], None]  # raises when its dependency cannot be used


def check_database() -> None:
    # A connection an outage broke is dropped when the request ends (Django's request_finished), so the next probe
    # connects afresh.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_sqs() -> None:
    queue_depth(settings.CLASSIFY_QUEUE)


def check_storage() -> None:
    """The store uploads go to: the one the web tier writes and reads (the workers alone write the outputs). On S3,
    HeadBucket, which AWS authorises as s3:ListBucket on that bucket (deploy/iam/web-host-policy.json)."""
    if settings.STORAGE_BACKEND == "s3":
        s3 = aws.client("s3", settings.AWS_ENDPOINT_URL or None, config=QUICK)
        s3.head_bucket(Bucket=settings.S3_INPUT_BUCKET)
        return
    folder = Path(settings.STORAGES["inputs"]["OPTIONS"]["location"])
    folder.mkdir(parents=True, exist_ok=True)  # made on first use anyway; a folder that cannot be made fails
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{folder} is not writable")


CHECKS: dict[str, Check] = {"database": check_database, "sqs": check_sqs, "storage": check_storage}


def _failure(exc: BaseException) -> str:
    # The answer may reach the internet: the error's class says where to look, the log has the details.
    return f"failed ({type(exc).__name__})"


class Readiness:
    def __init__(self, checks: dict[str, Check], cache_seconds: float) -> None:
        self.checks = checks
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._checked_at = -float("inf")
        self._verdict: dict[str, str] = {}
        # Probes come every few seconds: an outage is logged once, with its reason, and its end.
        self._outages = {name: OutageLog(logger, f"readiness check {name!r}") for name in checks}

    def verdict(self) -> dict[str, str]:
        """Each dependency's state: "ok" or why not."""
        with self._lock:
            if time.monotonic() - self._checked_at >= self.cache_seconds:
                self._verdict = {name: self._run(name, check) for name, check in self.checks.items()}
                self._checked_at = time.monotonic()
            return dict(self._verdict)

    def _run(self, name: str, check: Check) -> str:
        try:
            check()
        except (DatabaseError, BotoCoreError, ClientError, OSError) as exc:
            self._outages[name].failed(exc)
            return _failure(exc)
        self._outages[name].succeeded()
        return "ok"


readiness = Readiness(CHECKS, settings.READINESS_CACHE_SECONDS)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "alive"}, headers={"Cache-Control": "no-store"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness.verdict()
    failed = sorted(name for name, state in checks.items() if state != "ok")
    body = {"ready": not failed, "failed": failed, "checks": checks}
    # A 503 here is logged once per outage by the checks, not once per probe (common/logs.py QuietProbes).
    return JsonResponse(body, status=503 if failed else 200, headers={"Cache-Control": "no-store"})
