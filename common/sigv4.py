"""AWS Signature Version 4 for the calls made on every upload (S3's PutObject and GetObject, SQS's JSON calls).

botocore's signer (`botocore.auth.SigV4Auth`) builds each signature through its request model, re-derives the day's
signing key for every request and parses the URL several times: under `make bench`'s load that cost more CPU than the
rest of the call. This is the same algorithm, as AWS specifies it, for the requests fastpaths/botocore_s3.py and
fastpaths/botocore_sqs.py make (no query string; the path as sent): the signing key is derived once per day, region,
service and secret, and the rest is a few string joins and two hashes. tests/common/test_sigv4.py holds each
signature equal to botocore's for the same request and moment.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# Headers botocore leaves out of a signature (botocore.auth.SIGNED_HEADERS_BLACKLIST): a proxy may change them.
UNSIGNED_HEADERS = frozenset({"expect", "transfer-encoding", "user-agent", "x-amzn-trace-id"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Credentials(Protocol):
    """What botocore's frozen credentials carry."""

    access_key: str
    secret_key: str
    token: str | None


class Signer:
    """Signs requests for one service in one region (`s3`, `sqs`)."""

    def __init__(self, service: str, region: str) -> None:
        self.service = service
        self.region = region
        self._keys: dict[tuple[str, str], bytes] = {}  # (secret, day) -> the day's signing key
        self._lock = threading.Lock()

    def sign(
        self,
        credentials: Credentials,
        method: str,
        url: str,
        headers: Mapping[str, str],
        payload_sha256: str,
        now: datetime | None = None,
    ) -> dict[str, str]:
        """`headers` with the signature's added (X-Amz-Date, the session token where there is one, Authorization).

        `payload_sha256`: the body's SHA-256 in hex, or UNSIGNED_PAYLOAD; S3 is also sent it as X-Amz-Content-SHA256.
        Every header given is signed but those botocore leaves out; Host is signed as the URL names it (libcurl
        sends the same), and is not added.
        """
        moment = now or datetime.now(UTC)
        stamp = moment.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        parts = urlsplit(url)
        if parts.query:
            raise ValueError("this signer signs requests without a query string")
        signed = dict(headers)
        signed["X-Amz-Date"] = stamp
        if credentials.token:
            signed["X-Amz-Security-Token"] = credentials.token
        if self.service == "s3":
            signed["X-Amz-Content-SHA256"] = payload_sha256
        canonical = {name.lower(): " ".join(str(value).split()) for name, value in signed.items()}
        canonical = {name: value for name, value in canonical.items() if name not in UNSIGNED_HEADERS}
        canonical["host"] = _host(parts.scheme, parts.hostname or "", parts.port)
        names = sorted(canonical)
        signed_headers = ";".join(names)
        canonical_request = "\n".join([
            method,
            parts.path or "/",
            "",
            "".join(f"{name}:{canonical[name]}\n" for name in names),
            signed_headers,
            payload_sha256,
        ])  # fmt: skip
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        string_to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
        signature = hmac.new(self._key(credentials.secret_key, day), string_to_sign.encode(), "sha256").hexdigest()
        signed["Authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, SignedHeaders={signed_headers}, "
            f"Signature={signature}"
        )
        return signed

    def _key(self, secret: str, day: str) -> bytes:
        with self._lock:
            key = self._keys.get((secret, day))
            if key is None:
                key = _derive(secret, day, self.region, self.service)
                self._keys = {(secret, day): key}  # only today's (a rotated secret or a new day replaces it)
            return key


def payload_sha256(body: bytes | None) -> str:
    return hashlib.sha256(body or b"").hexdigest()


def _derive(secret: str, day: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def _host(scheme: str, hostname: str, port: int | None) -> str:
    """The Host header as botocore signs it: the port only where it is not the scheme's default."""
    name = f"[{hostname}]" if ":" in hostname else hostname
    return name if port is None or _DEFAULT_PORTS.get(scheme) == port else f"{name}:{port}"
