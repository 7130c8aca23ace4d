"""A WSGI application served by an ASGI server, each request on a thread of a pool of its own: how the embedded
endpoint (stack/endpoint.py) serves moto's Flask applications with uvicorn.

uvicorn keeps HTTP/1.1 connections open between requests, as AWS's endpoints do; werkzeug's development server,
which `python -m moto.server` runs, closes every connection after one answer, so each S3 and SQS call of ours paid
for a new TCP connection that AWS would not charge it. uvicorn's own WSGI interface is deprecated, and asgiref's
adapter runs every request on one thread, where a long-polling ReceiveMessage would hold up every other call: here
each request runs whole on a pool thread, so as many may wait at once as the pool has threads.

A request's body is read whole before the application runs (`wsgi.input_terminated`: a chunked upload reads to its
end), and its answer is sent whole after; moto's answers are small (an image at most).
"""

from __future__ import annotations

import asyncio
import io
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
StartResponse = Callable[..., Any]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class ThreadedWSGI:
    """An ASGI application that runs `application` (WSGI) for each HTTP request on one of `threads` threads."""

    def __init__(self, application: WSGIApplication, threads: int) -> None:
        self._application = application
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"a WSGI application serves HTTP only, not {scope['type']!r}")
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the caller left before its request was whole: nothing to answer
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(self._pool, self._answer, environ(scope, bytes(body)))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._pool.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _answer(self, environ: dict[str, Any]) -> Answer:
        """The application's whole answer to one request, on a pool thread; a 500 where it raises, as werkzeug's
        server answers (the exception itself may be one a future cannot carry back to the loop: StopIteration)."""
        try:
            return self._run(environ)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            message = b"Internal Server Error"
            return 500, [(b"content-type", b"text/plain"), (b"content-length", str(len(message)).encode())], message

    def _run(self, environ: dict[str, Any]) -> Answer:
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., None]:
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [(status, headers)]
            return chunks.append  # the legacy write() callable

        chunks: list[bytes] = []
        result = self._application(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started[0]
        encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        return int(status.split(" ", 1)[0]), encoded, b"".join(chunks)


def environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ of an ASGI HTTP request (PEP 3333): strings are the request's bytes read as Latin-1, headers
    are `HTTP_` names, a repeated header's values joined by commas."""
    server = scope.get("server") or ("localhost", 80)
    found: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if scope.get("client"):
        found["REMOTE_ADDR"], found["REMOTE_PORT"] = scope["client"][0], str(scope["client"][1])
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").upper().replace("-", "_"), raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        found[key] = f"{found[key]},{value}" if key in found else value
    return found
