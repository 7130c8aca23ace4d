"""botocore, bent: SQS's busiest calls spoken directly (its JSON protocol, signed by botocore), everything else
through boto3.

Every upload costs the service a few SQS calls: the web tier's send, the worker's report and delete, the results
consumer's receive and delete. boto3 spends most of each call's CPU in its own machinery (event hooks, parameter
validation, request and response models). `DirectSQS` makes the calls on that path (`send_message_batch`,
`delete_message_batch`, `receive_message`) as one signed JSON POST each (common/sigv4.py, held equal to botocore's
signer), with botocore's credentials and error classes, sent over libcurl (common/curl_post.py), and hands every other
method to the boto3 client it wraps, so callers keep boto3's names, arguments, answers and exceptions (`make bench`
prints what the stack saves).

What boto3 would do and this keeps: the client's endpoint, region, credentials (refreshed, as from an instance
profile), timeouts and retries (its standard mode: connection errors, 5xx, throttling; jittered doubling backoff),
the trust store for TLS, and the modeled exception for an error code (`sqs.exceptions.QueueDoesNotExist`). Where a
proxy is configured in the environment every call goes through boto3. It copies botocore's standard retry rule
(the retried error codes and the backoff) and, for kombu's client, reads the credentials its request signer holds;
tests/fastpaths/test_guards.py holds both against the pinned botocore. With FAST_PATHS off, `sqs_client` is boto3's
own client.
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import boto3
import botocore
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.httpsession import get_cert_path
from django.conf import settings

from common import aws
from common.curl_post import Answer, CurlPoster
from common.sigv4 import Signer, payload_sha256

# The calls this module makes itself, by boto3 method name: SQS's JSON protocol names them in a header.
DIRECT_ACTIONS = {
    "send_message_batch": "SendMessageBatch",
    "delete_message_batch": "DeleteMessageBatch",
    "receive_message": "ReceiveMessage",
}
# botocore's standard retry mode (botocore/retries/standard.py): what is tried again, and how long before.
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
    "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException",
})  # fmt: skip
TRANSIENT_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
# The first retry waits up to this long: a second after throttling, 50 ms after anything else (a connection refused,
# a 503), doubling with each attempt.
THROTTLED_BASE_SECONDS = 1.0
TRANSIENT_BASE_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 20.0
CONTENT_TYPE = "application/x-amz-json-1.0"
T = TypeVar("T")
USER_AGENT = f"classifier-direct-sqs botocore/{botocore.__version__}"  # tells these calls from boto3's in a log


def sqs_client(endpoint_url: str | None = None, env: Mapping[str, str] | None = None) -> Any:
    """An SQS client as `aws.client("sqs")` makes it, for the calls made for every upload: a DirectSQS around it, or
    the client itself with FAST_PATHS off. `env` may carry a local endpoint's keys, as for `aws.client`."""
    client = aws.client("sqs", endpoint_url, env)
    if "botocore_sqs" not in settings.FAST_PATHS:
        return client
    env = env or {}
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    else:  # boto3's usual chain, as the client resolved it: environment, profile, instance role (refreshed)
        credentials = boto3.session.Session().get_credentials()
    return DirectSQS(client, credentials)


class DirectSQS:
    """A boto3 SQS client whose three busiest calls skip boto3's per-call machinery (see the module's docstring)."""

    def __init__(self, client: Any, credentials: Credentials | None) -> None:
        self._client = client
        self._credentials = credentials
        self._url = client.meta.endpoint_url.rstrip("/") + "/"
        self._region = client.meta.region_name
        self._signer = Signer("sqs", self._region)
        self._attempts, self._http, self._direct = transport(client, credentials)

    @classmethod
    def around(cls, client: Any) -> DirectSQS:
        """Around a client made elsewhere (kombu's): the credentials its request signer holds (a private name)."""
        return cls(client, client._request_signer._credentials)

    def send_message_batch(self, **params: Any) -> dict[str, Any]:
        return self._call("send_message_batch", params)

    def delete_message_batch(self, **params: Any) -> dict[str, Any]:
        return self._call("delete_message_batch", params)

    def receive_message(self, **params: Any) -> dict[str, Any]:
        return self._call("receive_message", params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)  # every other call, and `meta` and `exceptions`, are boto3's

    def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if not self._direct:
            answer: dict[str, Any] = getattr(self._client, method)(**params)
            return answer
        return self._request(DIRECT_ACTIONS[method], params)

    def _request(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """One SQS action with boto3's parameters; its answer as boto3 gives it, or boto3's exception."""
        body = json.dumps(params, separators=(",", ":")).encode()
        return with_retries(self._attempts, lambda: self._post(action, body))

    def _post(self, action: str, body: bytes) -> tuple[int, dict[str, Any], ClientError | None]:
        headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"AmazonSQS.{action}", "User-Agent": USER_AGENT}
        signed = self._signer.sign(self._credentials.get_frozen_credentials(), "POST", self._url, headers,
                                   payload_sha256(body))  # fmt: skip
        response = self._http.post(self._url, body, signed.items())
        answer = _json(response.body)
        if response.status == 200:
            return response.status, answer, None
        return response.status, answer, self._error(action, response, answer)

    def _error(self, action: str, response: Answer, answer: dict[str, Any]) -> ClientError:
        """The exception boto3 raises for this answer: SQS's query-compatible code where the header gives one, the
        modeled error's name beside it (botocore/parsers.py, `_do_query_compatible_error_parse`)."""
        modeled = str(answer.get("__type") or response.header("x-amzn-errortype")).rsplit("#", 1)[-1]
        error: dict[str, Any] = {
            "Code": modeled or str(response.status),
            "Message": answer.get("message") or answer.get("Message") or response.reason or "",
        }
        query_error = response.header("x-amzn-query-error").split(";")
        if len(query_error) == 2 and query_error[0]:
            error.update(Code=query_error[0], QueryErrorCode=modeled, Type=query_error[1])
        metadata = {"HTTPStatusCode": response.status, "RequestId": response.header("x-amzn-requestid")}
        error_class = self._client.exceptions.from_code(error.get("QueryErrorCode") or error["Code"])
        return error_class({"Error": error, "ResponseMetadata": metadata}, action)


def transport(client: Any, credentials: Credentials | None) -> tuple[int, CurlPoster, bool]:
    """What a direct call keeps of the boto3 client it stands beside: its attempts (botocore's standard mode), an
    HTTP client with its timeouts and trust store, and whether to call directly at all (not without credentials, nor
    through a configured proxy: then boto3 makes the call)."""
    config = client.meta.config
    attempts = int((config.retries or {}).get("total_max_attempts") or 3)  # 3: the standard mode's own
    http = CurlPoster(config.connect_timeout, config.read_timeout, get_cert_path(True))
    proxies = urllib.request.getproxies()
    direct = credentials is not None and not (config.proxies or proxies.get("http") or proxies.get("https"))
    return attempts, http, direct


def with_retries(attempts: int, attempt_once: Callable[[], tuple[int, T, ClientError | None]]) -> T:
    """`attempt_once` until it answers without an error, at most `attempts` times, as botocore's standard mode
    retries: a connection error, a throttling or transient error code, a 5xx; jittered doubling backoff between."""
    attempt = 1
    while True:
        try:
            status, answer, error = attempt_once()
        except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError):
            if attempt >= attempts:
                raise
            throttled = False
        else:
            if error is None:
                return answer
            codes = {error.response["Error"]["Code"], error.response["Error"].get("QueryErrorCode")}
            throttled = bool(codes & THROTTLING_CODES)
            if attempt >= attempts or not (throttled or codes & TRANSIENT_CODES or status in TRANSIENT_STATUSES):
                raise error
        time.sleep(backoff_seconds(attempt, throttled))
        attempt += 1


def backoff_seconds(attempt: int, throttled: bool) -> float:
    """botocore's standard mode: full jitter under a ceiling that doubles with each attempt, at most 20 s."""
    base = THROTTLED_BASE_SECONDS if throttled else TRANSIENT_BASE_SECONDS
    return random.uniform(0, min(MAX_BACKOFF_SECONDS, base * 2.0 ** (attempt - 1)))  # noqa: S311 - jitter


def _json(data: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(data) if data else {}
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
