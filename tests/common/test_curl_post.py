"""POSTs over libcurl: answers, headers read on demand, one kept connection per thread, botocore's failures."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from common import curl_post
from common.curl_post import Answer, CurlPoster
from stack.processes import free_port


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append((self.client_address[1], dict(self.headers), body))  # type: ignore[attr-defined]
        answer = b"echo:" + body
        self.send_response(418 if body == b"teapot" else 200)
        self.send_header("X-Amzn-RequestId", "req-1")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[tuple[str, list[tuple[int, dict[str, str], bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_a_post_sends_the_body_and_headers_and_keeps_its_connection(echo) -> None:
    url, seen = echo
    poster = CurlPoster(connect_timeout=2, read_timeout=2, ca_certs=None)
    big = b"x" * 5000  # over a kilobyte: no "Expect: 100-continue" round trip
    first = poster.post(url, big, [("X-Amz-Target", "AmazonSQS.ReceiveMessage")])
    second = poster.post(url, b"teapot", [])
    assert (first.status, first.body) == (200, b"echo:" + big)
    assert first.header("x-amzn-requestid") == "req-1" and first.header("missing", "none") == "none"
    assert (second.status, second.reason) == (418, "I'm a Teapot")
    assert seen[0][1]["X-Amz-Target"] == "AmazonSQS.ReceiveMessage" and "Expect" not in seen[0][1]
    assert seen[0][0] == seen[1][0]  # the same client port: one connection for both


def test_each_thread_and_each_forked_process_has_a_handle_of_its_own(monkeypatch) -> None:
    poster = CurlPoster(connect_timeout=1, read_timeout=1, ca_certs=None)
    here = poster._handle()
    elsewhere: list[object] = []
    thread = threading.Thread(target=lambda: elsewhere.append(poster._handle()))
    thread.start()
    thread.join()
    assert poster._handle() is here and elsewhere[0] is not here
    monkeypatch.setattr(curl_post.os, "getpid", lambda: -1)  # as in a child after fork()
    assert poster._handle() is not here
    assert curl_post._inherited[-1] is here  # never cleaned up in the child: its connection is the parent's


def test_an_interim_answer_s_headers_do_not_count() -> None:
    answer = Answer(200, b"", [b"HTTP/1.1 100 Continue\r\n", b"X-Thing: early\r\n", b"\r\n",
                               b"HTTP/1.1 200 OK\r\n", b"Content-Length: 0\r\n", b"\r\n"])  # fmt: skip
    assert answer.header("x-thing") == "" and answer.header("content-length") == "0" and answer.reason == "OK"


def test_a_refused_connection_is_botocores_endpoint_error() -> None:
    poster = CurlPoster(connect_timeout=1, read_timeout=1, ca_certs=None)
    with pytest.raises(EndpointConnectionError):
        poster.post(f"http://127.0.0.1:{free_port()}/", b"{}", [])


def test_an_endpoint_that_is_not_http_is_refused(tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("not for a queue")
    poster = CurlPoster(connect_timeout=1, read_timeout=1, ca_certs=None)
    with pytest.raises(EndpointConnectionError):
        poster.post(secret.as_uri(), b"{}", [])


def _listener(behaviour: str) -> tuple[socket.socket, threading.Thread]:
    """A server that reads the request, then says nothing (`silent`) or hangs up (`hang-up`)."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = server.accept()
        connection.recv(65536)
        if behaviour == "hang-up":
            connection.close()
        else:
            threading.Event().wait(6)  # longer than the read timeout and libcurl's two seconds of slack
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


@pytest.mark.parametrize(("behaviour", "error"), [("silent", ReadTimeoutError), ("hang-up", ConnectionClosedError)])
def test_a_server_that_stops_answering_is_botocores_read_timeout_or_closed_connection(behaviour, error) -> None:
    server, thread = _listener(behaviour)
    poster = CurlPoster(connect_timeout=1, read_timeout=1, ca_certs=None)
    try:
        with pytest.raises(error):
            poster.post(f"http://127.0.0.1:{server.getsockname()[1]}/", b"{}", [])
    finally:
        server.close()
        thread.join(5)
