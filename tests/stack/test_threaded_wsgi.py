"""The embedded endpoint's server (stack/threaded_wsgi.py) with a real uvicorn on a free port: connections kept open
between requests, a slow request (a long poll) holding up no other, bodies whole (chunked ones too), and the WSGI
environ as PEP 3333 has it."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from stack.processes import free_port
from stack.threaded_wsgi import ThreadedWSGI, environ


def application(environ: dict, start_response) -> list[bytes]:
    if environ["PATH_INFO"] == "/slow":
        time.sleep(1.5)
    if environ["PATH_INFO"] == "/raises":
        next(iter(()))  # StopIteration, which a future cannot carry: moto's code raises it on a missing item
    body = environ["wsgi.input"].read()
    seen = {key: value for key, value in environ.items() if isinstance(value, str)}
    answer = json.dumps({"environ": seen, "body": body.decode("latin-1")}).encode()
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]


@pytest.fixture
def server() -> Iterator[int]:
    port = free_port("127.0.0.1")
    config = uvicorn.Config(ThreadedWSGI(application, 4), host="127.0.0.1", port=port, lifespan="on",
                            log_level="warning")  # fmt: skip
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        running.should_exit = True
        thread.join(timeout=10)


def _call(connection: http.client.HTTPConnection, path: str, body: bytes = b"", **headers: str) -> dict:
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    assert response.status == 201
    assert response.getheader("Connection") != "close"
    return json.loads(response.read())


def test_one_connection_carries_many_requests(server: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    try:
        _call(connection, "/first", b"one")
        local_port = connection.sock.getsockname()[1]
        answer = _call(connection, "/second", b"two")
        assert connection.sock.getsockname()[1] == local_port  # the same connection
        assert answer["body"] == "two"
    finally:
        connection.close()


def test_a_slow_request_holds_up_no_other(server: int) -> None:
    slow = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    fast = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    try:
        waiting = threading.Thread(target=_call, args=(slow, "/slow"))
        waiting.start()
        time.sleep(0.2)
        started = time.monotonic()
        _call(fast, "/fast", b"x")
        assert time.monotonic() - started < 1.0
        waiting.join(timeout=10)
    finally:
        slow.close()
        fast.close()


def test_an_application_that_raises_answers_500_and_the_connection_goes_on(server: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    try:
        connection.request("POST", "/raises", body=b"")
        response = connection.getresponse()
        assert (response.status, response.read()) == (500, b"Internal Server Error")
        assert _call(connection, "/after", b"ok")["body"] == "ok"
    finally:
        connection.close()


def test_a_chunked_body_arrives_whole_with_its_headers(server: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    try:
        connection.putrequest("POST", "/bucket/a%20key?list-type=2")
        for name, value in (
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "image/jpeg"),
            ("X-Amz-Meta-Original-Name", "a.jpg"),
            ("X-Repeated", "1"),
            ("X-Repeated", "2"),
        ):
            connection.putheader(name, value)  # fmt: skip
        connection.endheaders()
        for chunk in (b"\xff\xd8", b"\x00middle", b"end"):
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert answer["body"].encode("latin-1") == b"\xff\xd8\x00middleend"
    seen = answer["environ"]
    assert seen["REQUEST_METHOD"] == "POST"
    assert seen["PATH_INFO"] == "/bucket/a key"
    assert seen["QUERY_STRING"] == "list-type=2"
    assert seen["CONTENT_TYPE"] == "image/jpeg"
    assert seen["HTTP_X_AMZ_META_ORIGINAL_NAME"] == "a.jpg"
    assert seen["HTTP_X_REPEATED"] == "1,2"
    assert seen["SERVER_PORT"] == str(server)


def test_the_environ_reads_a_path_s_bytes_as_latin_1() -> None:
    scope = {"method": "GET", "path": "/bucket/caf\u00e9", "query_string": b"", "http_version": "1.1",
             "headers": [(b"content-length", b"0")], "server": ("127.0.0.1", 9),
             "client": ("127.0.0.1", 5)}  # fmt: skip
    found = environ(scope, b"")
    assert found["PATH_INFO"] == "/bucket/caf\u00c3\u00a9"  # UTF-8's bytes, as PEP 3333 has them
    assert found["CONTENT_LENGTH"] == "0"
    assert found["wsgi.input"].read() == b""
    assert found["wsgi.input_terminated"] is True
