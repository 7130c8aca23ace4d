"""DirectSQS against the embedded endpoint (moto, as a user meets it) and, for retries, a scripted HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError

from common import aws
from fastpaths.botocore_sqs import MAX_BACKOFF_SECONDS, DirectSQS, backoff_seconds, sqs_client
from stack.embedded import LOCAL_CREDENTIALS
from stack.processes import free_port


@pytest.fixture
def clients(endpoint: str) -> tuple[Any, DirectSQS]:
    return aws.client("sqs", endpoint, LOCAL_CREDENTIALS), sqs_client(endpoint, LOCAL_CREDENTIALS)


def test_its_answers_are_boto3s(clients: tuple[Any, DirectSQS]) -> None:
    boto, direct = clients
    url = boto.create_queue(QueueName="direct-answers")["QueueUrl"]
    entries = [{"Id": str(n), "MessageBody": f"body {n} ü"} for n in range(3)]
    sent = direct.send_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(entry["Id"] for entry in sent["Successful"]) == ["0", "1", "2"]
    assert set(sent["Successful"][0]) == set(
        boto.send_message_batch(QueueUrl=url, Entries=entries[:1])["Successful"][0]
    )

    received = direct.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"])
    messages = received["Messages"]
    assert sorted(message["Body"] for message in messages) == ["body 0 ü", "body 0 ü", "body 1 ü", "body 2 ü"]
    assert messages[0]["Attributes"] == {"ApproximateReceiveCount": "1"}

    deleted = direct.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
    )
    assert len(deleted["Successful"]) == 4
    assert direct.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    assert (
        boto.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessages"]
        == "0"
    )


def test_an_error_is_the_exception_boto3_raises(clients: tuple[Any, DirectSQS]) -> None:
    boto, direct = clients
    missing = boto.meta.endpoint_url + "/123456789012/no-such-queue"
    with pytest.raises(ClientError) as by_boto:
        boto.receive_message(QueueUrl=missing)
    with pytest.raises(boto.exceptions.QueueDoesNotExist) as by_direct:
        direct.receive_message(QueueUrl=missing)
    assert by_direct.value.response["Error"] == by_boto.value.response["Error"]
    assert by_direct.value.operation_name == "ReceiveMessage"


def test_other_calls_are_boto3s(clients: tuple[Any, DirectSQS]) -> None:
    boto, direct = clients
    url = direct.create_queue(QueueName="direct-other")["QueueUrl"]
    assert direct.get_queue_url(QueueName="direct-other")["QueueUrl"] == url
    assert direct.exceptions is boto.exceptions or direct.exceptions.QueueDoesNotExist.__name__ == "QueueDoesNotExist"


# --- Retries, against a server that answers from a script -------------------------------------------------------
class Scripted(ThreadingHTTPServer):
    def __init__(self, answers: list[tuple[int, dict[str, str], dict[str, Any]]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers = answers
        self.requests: list[dict[str, Any]] = []


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append({"target": self.headers["X-Amz-Target"], "auth": self.headers["Authorization"],
                                     "agent": self.headers["User-Agent"], "body": json.loads(body)})  # fmt: skip
        status, headers, answer = self.server.answers.pop(0)
        data = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/x-amz-json-1.0", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _direct(url: str, attempts: int = 3) -> DirectSQS:
    quick = Config(retries={"mode": "standard", "total_max_attempts": attempts}, connect_timeout=1, read_timeout=2)
    boto = aws.client("sqs", url, LOCAL_CREDENTIALS, config=quick)
    return DirectSQS(boto, boto._request_signer._credentials)


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fastpaths.botocore_sqs.backoff_seconds", lambda attempt, throttled: 0.0)


def test_throttling_and_server_errors_are_tried_again(scripted: Scripted) -> None:
    throttled = (400, {"x-amzn-query-error": "ThrottlingException;Sender"}, {"__type": "ThrottlingException"})
    scripted.answers += [throttled, (503, {}, {}), (200, {}, {"Successful": [{"Id": "0"}], "Failed": []})]
    sqs = _direct(f"http://127.0.0.1:{scripted.server_port}")
    answer = sqs.send_message_batch(QueueUrl="http://q", Entries=[{"Id": "0", "MessageBody": "x"}])
    assert answer["Successful"] == [{"Id": "0"}]
    assert [request["target"] for request in scripted.requests] == ["AmazonSQS.SendMessageBatch"] * 3
    assert scripted.requests[0]["agent"].startswith("classifier-direct-sqs ")  # not boto3's own call
    assert scripted.requests[0]["body"] == {"QueueUrl": "http://q", "Entries": [{"Id": "0", "MessageBody": "x"}]}
    assert (
        "Credential=local/" in scripted.requests[0]["auth"]
        and "/us-east-1/sqs/aws4_request" in scripted.requests[0]["auth"]
    )


def test_a_client_error_is_raised_at_once_and_retries_end(scripted: Scripted) -> None:
    query_error = {"x-amzn-query-error": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct;Sender"}
    scripted.answers += [(400, query_error, {"__type": "com.amazonaws.sqs#BatchEntryIdsNotDistinct", "message": "no"})]
    scripted.answers += [(500, {}, {})] * 2
    sqs = _direct(f"http://127.0.0.1:{scripted.server_port}", attempts=2)
    with pytest.raises(ClientError) as refused:
        sqs.delete_message_batch(QueueUrl="http://q", Entries=[])
    assert refused.value.response["Error"] == {"Code": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                                               "QueryErrorCode": "BatchEntryIdsNotDistinct", "Message": "no",
                                               "Type": "Sender"}  # fmt: skip
    assert len(scripted.requests) == 1
    with pytest.raises(ClientError) as failing:
        sqs.receive_message(QueueUrl="http://q")
    assert failing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert len(scripted.requests) == 3  # two attempts, as the client's config says


def test_an_endpoint_that_is_down_raises_botocores_connection_error() -> None:
    sqs = _direct(f"http://127.0.0.1:{free_port()}", attempts=2)
    with pytest.raises(EndpointConnectionError):
        sqs.receive_message(QueueUrl="http://q")


def test_with_a_proxy_configured_every_call_is_boto3s(monkeypatch: pytest.MonkeyPatch, scripted: Scripted) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    sqs = _direct(f"http://127.0.0.1:{scripted.server_port}")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(sqs._client, "receive_message", lambda **params: calls.append(params) or {"Messages": []})
    assert sqs.receive_message(QueueUrl="http://q") == {"Messages": []}
    assert calls == [{"QueueUrl": "http://q"}] and scripted.requests == []


def test_backoff_is_botocores_a_second_after_throttling_fifty_milliseconds_after_anything_else() -> None:
    assert max(backoff_seconds(1, throttled=False) for _ in range(200)) <= 0.05
    assert max(backoff_seconds(3, throttled=False) for _ in range(200)) <= 0.2
    assert 0.5 < max(backoff_seconds(1, throttled=True) for _ in range(200)) <= 1.0
    assert max(backoff_seconds(40, throttled=True) for _ in range(200)) <= MAX_BACKOFF_SECONDS
