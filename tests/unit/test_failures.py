import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from classifier import tasks, work
from classifier.failures import backoff_seconds, is_transient, permanent_storage_error


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


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (_client_error("AccessDenied"), "storage refused the request: AccessDenied"),
        (_client_error("403"), "storage refused the request: 403"),  # HeadObject has no body: the code is the status
        (_client_error("NoSuchBucket"), "storage refused the request: NoSuchBucket"),
        (_client_error("SlowDown"), None),  # transient: retried
        (_client_error("ExpiredToken"), None),  # this worker's credentials: redelivered to another worker
        (_client_error("RequestTimeTooSkewed"), None),  # this worker's clock: the same
        (_client_error("502"), None),
        (PermissionError("read-only file system"), None),
        (ValueError("bug"), None),  # not a storage refusal: redelivered, then dead-lettered
    ],
)
def test_permanent_storage_errors_have_a_reason(error: BaseException, reason: str | None) -> None:
    assert permanent_storage_error(error) == reason


def test_a_storage_refusal_fails_the_request_at_once(monkeypatch) -> None:
    """Not left for redelivery: 5 receives x the visibility timeout would delay the failure by minutes."""
    failures: list[tuple] = []

    def refuse(*args: object) -> work.ResultPayload:
        raise _client_error("AccessDenied")

    monkeypatch.setattr(work, "classify_stored_image", refuse)
    monkeypatch.setattr(tasks.record_failure, "delay", lambda *args: failures.append(args))
    monkeypatch.setattr(tasks.record_started, "delay", lambda *args: None)
    tasks.classify.run("request-1", "request-1/a.JPEG", "a.JPEG")
    assert [(request_id, reason) for request_id, reason, *_ in failures] == [
        ("request-1", "storage refused the request: AccessDenied")
    ]
