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
    "InternalError", "InternalFailure", "ServiceUnavailable", "503", "500",
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


def permanent_storage_error(error: BaseException) -> str | None:
    """The reason to record at once for a storage error no retry will fix (access denied, no such bucket), or None.

    Without this such a message would be received again and again until it is dead-lettered, minutes later, under
    a reason that blames the worker. Anything that is not a storage refusal (a bug) still goes that way.
    """
    if isinstance(error, ClientError) and not is_transient(error):
        details = error.response.get("Error", {})
        code, message = details.get("Code", "unknown"), details.get("Message", "")
        return f"storage refused the request: {code}" + (f" ({message})" if message else "")
    if isinstance(error, PermissionError):
        return f"storage refused the request: {error}"
    return None


def backoff_seconds(retries: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter (AWS's recommendation): spread retries so they do not arrive together."""
    return random.uniform(0, min(cap, base * 2**retries))  # noqa: S311 - jitter, not cryptography
