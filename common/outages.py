"""Which failures are a dependency briefly away (an outage) and which are not: the one rule behind workers' retries and
the web tier's 503s.

An outage is a refused or lost connection, a timeout, throttling or a 5xx: trying again later can fix it. Anything
else (a refusal by policy, a missing table, a bug) is not dressed up as "try again": a worker fails or redelivers
it, the web tier logs it as a 500. `OutageLog` is how whatever keeps retrying through one (a command's ticks, the
heartbeat, the results consumer) reports it: once, with its reason, and then its end.
"""

from __future__ import annotations

import enum
import logging
import time

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from django.db import InterfaceError, OperationalError

TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "RequestThrottled", "SlowDown", "RequestTimeout", "RequestTimeoutException",
    "InternalError", "InternalFailure", "ServiceUnavailable", "500", "502", "503", "504",
})  # fmt: skip
_TRANSIENT_BOTOCORE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
# SQLite says so with an OperationalError too, but a missed migration is a bug, not an outage.
_SCHEMA_ERRORS = ("no such table", "no such column")


class Outage(enum.StrEnum):
    DATABASE = "database"
    STORAGE = "storage"


def is_transient(error: BaseException) -> bool:
    """An AWS call or a storage operation that a retry, a little later, can make succeed."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "") in TRANSIENT_CODES
    if isinstance(error, BotoCoreError):
        return isinstance(error, _TRANSIENT_BOTOCORE)
    if isinstance(error, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return False
    return isinstance(error, (ConnectionError, TimeoutError, OSError))


def database_unreachable(error: BaseException) -> bool:
    """A lost or refused database connection (not a schema error)."""
    if not isinstance(error, (OperationalError, InterfaceError)):
        return False
    return not str(error).startswith(_SCHEMA_ERRORS)


def outage_of(error: BaseException) -> Outage | None:
    """Which dependency is down, if `error` says one is: the database, or the image storage (S3 or a disk)."""
    if database_unreachable(error):
        return Outage.DATABASE
    if isinstance(error, (BotoCoreError, ClientError, OSError)) and is_transient(error):
        return Outage.STORAGE
    return None


_MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


def outage_kind(error: BaseException) -> str | None:
    """What is away, in words for a log line, if `error` is an outage (the rule above, `outage_of`); None otherwise.

    A queue that does not exist counts too: the endpoint restarted empty or provisioning has not run yet, and the
    command that reads it should wait for it, not die.
    """
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code", "") in _MISSING_QUEUE_CODES:
        return "queue missing"
    kind = outage_of(error)
    if kind is Outage.DATABASE:
        return "database unreachable"
    if kind is Outage.STORAGE:  # for a command, any AWS endpoint: SQS, EC2, S3
        if isinstance(error, ClientError):
            return f"AWS throttled or failing ({error.response.get('Error', {}).get('Code', '')})"
        if isinstance(error, BotoCoreError):
            return "AWS endpoint unreachable"
        return "connection failed"
    return None


class OutageLog:
    """The failures of one repeated operation (a command's tick, a look at a queue): logged once per outage with its
    reason, again only if the reason changes, and the recovery with how long it took. Not a traceback per try."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self.failures = 0
        self._since: float | None = None
        self._reason: str | None = None

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> None:
        self.failures += 1
        if self._since is None:
            self._since = time.monotonic()
        kind = outage_kind(error)
        reason = kind or f"unexpected {type(error).__name__}"
        if reason == self._reason:
            return
        self._reason = reason
        if kind is None:  # a bug, not an outage: the traceback once, then the same quiet retries
            self.logger.error("%s failed; retrying with backoff, quiet until it recovers", self.what, exc_info=error)
            return
        detail = (str(error).splitlines() or [type(error).__name__])[0][:300]
        self.logger.warning("%s failed: %s (%s); retrying with backoff, quiet until it recovers",
                            self.what, kind, detail)  # fmt: skip

    def succeeded(self) -> None:
        if self._since is None:
            return
        self.logger.warning("%s recovered after %.1f s (%d failed tries)",
                            self.what, time.monotonic() - self._since, self.failures)  # fmt: skip
        self.failures, self._since, self._reason = 0, None, None
