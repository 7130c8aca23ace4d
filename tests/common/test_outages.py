"""The one rule of what an outage is: workers retry it, the web tier answers 503 for it; anything else is not one."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from django.db import IntegrityError, OperationalError

from common.outages import Outage, is_transient, outage_of


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


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused"), Outage.DATABASE),
        (OperationalError("database is locked"), Outage.DATABASE),
        (OperationalError("no such table: classifier_classification"), None),  # a missed migration: a bug
        (IntegrityError("duplicate key"), None),
        (EndpointConnectionError(endpoint_url="https://in.s3.amazonaws.com"), Outage.STORAGE),
        (_client_error("SlowDown"), Outage.STORAGE),
        (_client_error("503"), Outage.STORAGE),
        (NotADirectoryError(20, "Not a directory"), Outage.STORAGE),  # a disk storage that is not there
        (_client_error("AccessDenied"), None),  # a policy's refusal: the same on every retry
        (PermissionError("read-only"), None),
        (FileNotFoundError("gone"), None),
        (ValueError("bug"), None),
    ],
)
def test_which_dependency_is_down(error: BaseException, outage: Outage | None) -> None:
    assert outage_of(error) == outage
