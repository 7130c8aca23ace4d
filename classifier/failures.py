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


def backoff_seconds(retries: int, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter (AWS's recommendation): spread retries so they do not arrive together."""
    return random.uniform(0, min(cap, base * 2**retries))  # noqa: S311 - jitter, not cryptography
