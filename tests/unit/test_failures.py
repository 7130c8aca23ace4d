import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from classifier.failures import backoff_seconds, is_transient


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "GetObject")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_client_error("SlowDown"), True),
        (_client_error("ThrottlingException"), True),
        (_client_error("ServiceUnavailable"), True),
        (_client_error("AccessDenied"), False),
        (_client_error("NoSuchBucket"), False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (NoCredentialsError(), False),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (FileNotFoundError("gone"), False),
        (PermissionError("no"), False),
        (ValueError("bug"), False),
    ],
)
def test_transient_or_permanent(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_backoff_grows_with_full_jitter_and_a_cap() -> None:
    samples = [backoff_seconds(3) for _ in range(200)]
    assert all(0 <= s <= 16 for s in samples) and max(samples) > 8
    assert all(backoff_seconds(30) <= 300 for _ in range(50))
