"""common/sigv4.py against botocore's signer: the same request at the same moment gets the same headers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from common.sigv4 import UNSIGNED_PAYLOAD, Signer, payload_sha256

MOMENT = datetime(2026, 12, 7, 18, 30, 5, tzinfo=UTC)
KEYS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SESSION = Credentials("ASIAEXAMPLE", "secret/with+chars", "FwoGZXIvYXdzEJr//////////session token")

CASES = [
    ("s3", "PUT", "http://127.0.0.1:42093/cse546-inputs/1b2f/test_0.JPEG", b"\xff\xd8\x00 image",
     {"Content-Type": "image/jpeg", "x-amz-meta-original-name": "my%20photo.jpg", "User-Agent": "ours"}),
    ("s3", "GET", "https://cse546-inputs.s3.us-east-1.amazonaws.com/1b2f/caf%C3%A9%20%281%29.jpg", None,
     {"User-Agent": "ours"}),
    ("s3", "PUT", "https://b.s3.eu-west-1.amazonaws.com:443/k/with%2Bplus", b"(test_0, cat)",
     {"Content-Type": "text/plain", "Cache-Control": "  no-cache   , private "}),
    ("sqs", "POST", "https://sqs.us-east-1.amazonaws.com/", b'{"QueueUrl":"q","Entries":[]}',
     {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.SendMessageBatch"}),
    ("sqs", "POST", "http://[::1]:9324/", b"{}", {"Content-Type": "application/x-amz-json-1.0"}),
]  # fmt: skip


def botocore_headers(service: str, region: str, credentials: Credentials, method: str, url: str, body: bytes | None,
                     headers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:  # fmt: skip
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: MOMENT.replace(tzinfo=None))
    request = AWSRequest(method, url, data=body, headers=dict(headers))
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(credentials.get_frozen_credentials(), service, region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize("credentials", [KEYS, SESSION], ids=["keys", "session token"])
@pytest.mark.parametrize(("service", "method", "url", "body", "headers"), CASES)
def test_a_signature_is_botocore_s(service, method, url, body, headers, credentials, monkeypatch) -> None:
    region = "eu-west-1" if "eu-west-1" in url else "us-east-1"
    expected = botocore_headers(service, region, credentials, method, url, body, headers, monkeypatch)
    ours = Signer(service, region).sign(
        credentials.get_frozen_credentials(), method, url, headers, payload_sha256(body), now=MOMENT
    )
    assert ours == expected


def test_the_day_s_key_is_derived_again_for_a_new_day_or_secret() -> None:
    signer = Signer("s3", "us-east-1")
    first = signer.sign(KEYS.get_frozen_credentials(), "GET", "http://h/b/k", {}, UNSIGNED_PAYLOAD, now=MOMENT)
    again = signer.sign(KEYS.get_frozen_credentials(), "GET", "http://h/b/k", {}, UNSIGNED_PAYLOAD, now=MOMENT)
    assert first == again
    tomorrow = MOMENT.replace(day=8)
    other_day = signer.sign(KEYS.get_frozen_credentials(), "GET", "http://h/b/k", {}, UNSIGNED_PAYLOAD, now=tomorrow)
    rotated = Credentials("AKIDEXAMPLE", "another secret").get_frozen_credentials()
    other_secret = signer.sign(rotated, "GET", "http://h/b/k", {}, UNSIGNED_PAYLOAD, now=MOMENT)
    fresh = Signer("s3", "us-east-1").sign(rotated, "GET", "http://h/b/k", {}, UNSIGNED_PAYLOAD, now=MOMENT)
    assert len({first["Authorization"], other_day["Authorization"], other_secret["Authorization"]}) == 3
    assert other_secret == fresh


def test_a_query_string_is_refused() -> None:
    with pytest.raises(ValueError, match="query"):
        Signer("s3", "us-east-1").sign(KEYS.get_frozen_credentials(), "GET", "http://h/b/k?x=1", {}, UNSIGNED_PAYLOAD)
