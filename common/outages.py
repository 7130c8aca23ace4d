"""Which failures are a dependency briefly away (an outage) and which are not: the one rule behind workers' retries and
the web tier's 503s.

An outage is a refused or lost connection, a timeout, throttling or a 5xx: trying again later can fix it. Anything
else (a refusal by policy, a missing table, a bug) is not dressed up as "try again": a worker fails or redelivers
it, the web tier logs it as a 500.
"""

from __future__ import annotations

import enum

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
