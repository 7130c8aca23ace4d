"""HTTP requests over libcurl (pycurl, which kombu's SQS transport already needs), for the SQS and S3 calls of every
upload.

urllib3 sends through http.client, which parses every answer's status line and headers in Python (with the email
package) and wraps each call in its pool's and retry objects' bookkeeping; libcurl does the same in C for a good
deal less client CPU per call (bench/README.md has the measurement). The headers of an
answer are only read when the caller asks for them (an error's code and request id).

Each thread of each process has its own curl handle (a handle is not thread-safe, and a forked child must not use
its parent's connections), which keeps its connection alive between calls where the server allows it. Failures are
botocore's exceptions, as urllib3's were mapped before: the caller's retry rules do not change.
"""

from __future__ import annotations

import io
import math
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pycurl
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

# libcurl's codes for a connection that broke after it was made: the request may or may not have arrived.
_BROKEN = frozenset({
    pycurl.E_GOT_NOTHING, pycurl.E_SEND_ERROR, pycurl.E_RECV_ERROR, pycurl.E_PARTIAL_FILE, pycurl.E_HTTP2,
})  # fmt: skip
# One request: method, URL, body (None for a GET) and headers.
Request = tuple[str, str, "bytes | None", Iterable[tuple[str, str]]]
# A handle inherited through fork() is never used again, nor cleaned up: cleaning up would close its connection,
# and a TLS connection's close alert would go out on the parent's socket. One handle per child, kept here.
_inherited: list[pycurl.Curl | pycurl.CurlMulti] = []


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    header_lines: list[bytes] = field(repr=False)

    @property
    def reason(self) -> str:
        status_lines = [line for line in self.header_lines if line.startswith(b"HTTP/")]
        parts = status_lines[-1].decode("latin-1").split(None, 2) if status_lines else []
        return parts[2].strip() if len(parts) == 3 else ""

    def header(self, name: str, default: str = "") -> str:
        """The last answer's header `name` (case-insensitive); the headers of an interim answer (100) do not count."""
        wanted = name.lower().encode("latin-1") + b":"
        found = default
        for line in self.header_lines:
            if line.startswith(b"HTTP/"):
                found = default  # a new status line: what came before belonged to an interim answer
            elif line.lower().startswith(wanted):
                found = line[len(wanted) :].decode("latin-1").strip()
        return found


class CurlPoster:
    """POSTs with a connect timeout, a read timeout (no byte for that long ends the call) and a CA bundle for TLS."""

    def __init__(self, connect_timeout: float, read_timeout: float, ca_certs: str | None) -> None:
        self._connect_timeout_ms = max(1, int(connect_timeout * 1000))
        self._read_timeout_s = max(1, math.ceil(read_timeout))
        self._ca_certs = ca_certs
        self._local = threading.local()

    def post(self, url: str, body: bytes, headers: Iterable[tuple[str, str]]) -> Answer:
        return self.send("POST", url, body, headers)

    def send(self, method: str, url: str, body: bytes | None, headers: Iterable[tuple[str, str]]) -> Answer:
        """One request: GET (no body), or POST or PUT with `body` (bytes, sent as they are, NULs included)."""
        curl = self._handle()
        received, header_lines = _prepare(curl, method, url, body, headers)
        try:
            curl.perform()
        except pycurl.error as exc:
            raise _botocore_error(exc, url, connected=curl.getinfo(pycurl.CONNECT_TIME) > 0) from exc
        return Answer(curl.getinfo(pycurl.RESPONSE_CODE), received.getvalue(), header_lines)

    def send_all(self, requests: Sequence[Request]) -> list[Answer | Exception]:
        """Several requests at once, each on a connection of its own (kept open for the next call), waiting for all
        of them; each one's answer, or the botocore exception it met, in order."""
        if len(requests) == 1:
            try:
                return [self.send(*requests[0])]
            except (ConnectionClosedError, EndpointConnectionError, ReadTimeoutError) as exc:
                return [exc]
        multi, handles = self._multi(len(requests))
        pending = {}
        for curl, (method, url, body, headers) in zip(handles, requests, strict=False):
            pending[curl] = (url, *_prepare(curl, method, url, body, headers))
            multi.add_handle(curl)
        errors: dict[pycurl.Curl, Exception] = {}
        try:
            running = len(requests)
            while running:
                status, running = multi.perform()
                if status == pycurl.E_CALL_MULTI_PERFORM:
                    continue
                if running:
                    multi.select(1.0)
            while True:
                queued, _, failed = multi.info_read()
                for curl, code, message in failed:
                    connected = curl.getinfo(pycurl.CONNECT_TIME) > 0
                    errors[curl] = _botocore_error(pycurl.error(code, message), pending[curl][0], connected)
                if not queued:
                    break
            answers: list[Answer | Exception] = []
            for curl, (_, received, lines) in pending.items():
                status = curl.getinfo(pycurl.RESPONSE_CODE)
                answers.append(errors[curl] if curl in errors else Answer(status, received.getvalue(), lines))
            return answers
        finally:
            for curl in pending:
                multi.remove_handle(curl)

    def _handle(self) -> pycurl.Curl:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            if getattr(local, "curl", None) is not None:
                _inherited.extend([local.curl, *local.handles, *([local.multi] if local.multi else [])])
            local.curl, local.pid = self._new_handle(), os.getpid()
            local.multi, local.handles = None, []
        curl: pycurl.Curl = local.curl
        return curl

    def _multi(self, count: int) -> tuple[pycurl.CurlMulti, list[pycurl.Curl]]:
        """This thread's multi handle, whose connections its handles share, and `count` of its handles."""
        self._handle()
        local = self._local
        if local.multi is None:
            local.multi = pycurl.CurlMulti()
        while len(local.handles) < count:
            local.handles.append(self._new_handle())
        return local.multi, local.handles[:count]

    def _new_handle(self) -> pycurl.Curl:
        curl = pycurl.Curl()
        curl.setopt(pycurl.NOSIGNAL, 1)  # timeouts without SIGALRM: safe beside other threads
        # HTTP(S) only: libcurl would otherwise follow an endpoint URL of file:// (and more) where boto3 refuses one.
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, self._connect_timeout_ms)
        # botocore's read timeout is per read; libcurl's nearest is "under a byte a second for this long" (it notices
        # within about two seconds more).
        curl.setopt(pycurl.LOW_SPEED_LIMIT, 1)
        curl.setopt(pycurl.LOW_SPEED_TIME, self._read_timeout_s)
        curl.setopt(pycurl.PROXY, "")  # never a proxy from the environment: with one, the caller goes through boto3
        curl.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        if self._ca_certs:
            curl.setopt(pycurl.CAINFO, self._ca_certs)
        return curl


def _prepare(
    curl: pycurl.Curl, method: str, url: str, body: bytes | None, headers: Iterable[tuple[str, str]]
) -> tuple[io.BytesIO, list[bytes]]:
    """Set a (reused) handle up for one request; where its answer's body and header lines will be."""
    received = io.BytesIO()
    header_lines: list[bytes] = []
    curl.setopt(pycurl.URL, url)
    if method == "GET":
        curl.setopt(pycurl.HTTPGET, 1)
    else:
        curl.setopt(pycurl.POSTFIELDS, body or b"")  # its length too, so a body may hold NUL bytes
    # The handle is reused: a method other than GET and POST is named, and forgotten again for the next call.
    curl.setopt(pycurl.CUSTOMREQUEST, method if method not in ("GET", "POST") else None)
    # "Expect:" empty: libcurl would otherwise ask for a 100 Continue before a body over 1 kB, a round trip more.
    curl.setopt(pycurl.HTTPHEADER, [f"{name}: {value}" for name, value in headers] + ["Expect:"])
    curl.setopt(pycurl.WRITEDATA, received)
    curl.setopt(pycurl.HEADERFUNCTION, header_lines.append)
    return received, header_lines


def _botocore_error(exc: pycurl.error, url: str, connected: bool) -> Exception:
    code = exc.args[0] if exc.args else None
    if code == pycurl.E_OPERATION_TIMEDOUT and connected:
        return ReadTimeoutError(endpoint_url=url, error=exc)
    if code in _BROKEN:
        return ConnectionClosedError(endpoint_url=url, error=exc)
    return EndpointConnectionError(endpoint_url=url, error=exc)  # refused, unreachable, not resolved, TLS failed
