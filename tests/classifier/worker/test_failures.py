"""What a worker does about an error: fail the request with the reason, retry it later, or hand it back."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from classifier import tasks
from classifier.contract import Kind, ResultPayload
from classifier.images import CorruptImage
from classifier.worker import outbox as outbox_module
from classifier.worker.failures import (
    TRANSIENT_RETRIES,
    Action,
    backoff_seconds,
    permanent_storage_error,
    verdict,
)


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "GetObject")


def test_backoff_grows_with_full_jitter_and_a_cap() -> None:
    samples = [backoff_seconds(3) for _ in range(200)]
    assert all(0 <= s <= 16 for s in samples) and max(samples) > 8
    assert all(backoff_seconds(30) <= 300 for _ in range(50))
    assert backoff_seconds(5000) <= 300  # hours of retries: still a number


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

    def refuse(*args: object) -> ResultPayload:
        raise _client_error("AccessDenied")

    monkeypatch.setattr(tasks, "classify_stored_image", refuse)
    monkeypatch.setattr(
        outbox_module, "send_now", lambda kind, *args: failures.append(args) if kind is Kind.FAILURE else None
    )
    tasks.classify.run("request-1", "request-1/a.JPEG", "a.JPEG")
    assert [(request_id, reason) for request_id, reason, *_ in failures] == [
        ("request-1", "storage refused the request: AccessDenied")
    ]


@pytest.mark.parametrize(
    ("error", "action", "reason"),
    [
        (CorruptImage("the image is corrupt or truncated"), Action.FAIL,
         "unreadable image: the image is corrupt or truncated"),
        (FileNotFoundError("k/a.JPEG"), Action.FAIL, "input object k/a.JPEG is missing"),
        (_client_error("NoSuchBucket"), Action.FAIL, "storage refused the request: NoSuchBucket"),
        (_client_error("SlowDown"), Action.RETRY, ""),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), Action.RETRY, ""),
        (NoCredentialsError(), Action.HAND_BACK, ""),  # this worker's trouble: another may serve it
        (ValueError("bug"), Action.HAND_BACK, ""),
    ],
)  # fmt: skip
def test_the_verdict_on_a_first_failure(error: BaseException, action: Action, reason: str) -> None:
    decided = verdict(error, input_key="k/a.JPEG", retries=0)
    assert (decided.action, decided.reason) == (action, reason)
    if action == Action.RETRY:
        assert 0 <= decided.countdown <= 2


def test_a_transient_error_that_outlasts_its_retries_fails_with_the_reason() -> None:
    slow = _client_error("SlowDown")
    assert verdict(slow, input_key="k", retries=TRANSIENT_RETRIES - 1).action == Action.RETRY
    given_up = verdict(slow, input_key="k", retries=TRANSIENT_RETRIES)
    assert (given_up.action, given_up.reason) == (
        Action.FAIL, f"gave up after {TRANSIENT_RETRIES} retries: {slow}"
    )  # fmt: skip
