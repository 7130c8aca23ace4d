"""Which worker-side errors a retry can fix (throttling, timeouts, an endpoint briefly away) and which it cannot."""

from __future__ import annotations

import random

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "RequestThrottled", "SlowDown", "RequestTimeout", "RequestTimeoutException",
    "InternalError", "InternalFailure", "ServiceUnavailable", "500", "502", "503", "504",
})  # fmt: skip
_TRANSIENT_BOTOCORE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)


def is_transient(error: BaseException) -> bool:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "") in TRANSIENT_CODES
    if isinstance(error, BotoCoreError):
        return isinstance(error, _TRANSIENT_BOTOCORE)
    if isinstance(error, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return False
    return isinstance(error, (ConnectionError, TimeoutError, OSError))


# Storage answers that say "this will never work" for this request: a retry or another worker gets the same. Credential
# and clock errors are not here: one sick worker must not fail the queue, so those are redelivered to the others.
PERMANENT_STORAGE_CODES = frozenset({
    "AccessDenied", "403", "NoSuchBucket", "AllAccessDisabled", "InvalidBucketName", "NoSuchKey", "404",
})  # fmt: skip


def permanent_storage_error(error: BaseException) -> str | None:
    """The reason to record at once for a storage refusal no retry will fix (access denied, no such bucket), or None.

    Without this such a message would be received again and again until it is dead-lettered, minutes later, under
    a reason that blames the worker. Only the code goes into the reason (it reaches clients); S3's message, which
    can name accounts and roles, stays in the worker's log.
    """
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in PERMANENT_STORAGE_CODES:
            return f"storage refused the request: {code}"
    return None


def backoff_seconds(retries: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter (AWS's recommendation): spread retries so they do not arrive together."""
    return random.uniform(0, min(cap, base * 2**retries))  # noqa: S311 - jitter, not cryptography
