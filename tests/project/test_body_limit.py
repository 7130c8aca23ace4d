"""The ASGI body limit, around a stand-in app that reads its body the way Django's handler does."""

from __future__ import annotations

import asyncio
import json

from project.body_limit import BodyLimit


async def _reading_app(scope, receive, send) -> None:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return  # Django's handler: the client went away, nobody to answer
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": f"read {len(body)}".encode()})


def _call(path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[list[dict], int]:
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    taken = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal taken
        taken += 1
        return pending.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "headers": headers}
    asyncio.run(BodyLimit(_reading_app, lambda path: 100)(scope, receive, send))
    return sent, taken


def test_small_bodies_pass_through() -> None:
    sent, _ = _call("/", [b"x" * 60, b"y" * 40], [(b"content-length", b"100")])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"read 100"


def test_a_declared_large_body_is_refused_unread() -> None:
    sent, taken = _call("/api/classifications", [b"x" * 10], [(b"content-length", b"1000000000")])
    assert taken == 0
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == {"error": "the request body is larger than 100 bytes", "code": "too_large"}


def test_a_chunked_body_is_stopped_once_past_the_limit() -> None:
    sent, taken = _call("/", [b"x" * 60, b"x" * 60, b"x" * 60, b"x" * 60], [])
    assert taken == 2  # the rest is never read
    assert sent[0]["status"] == 413 and len(sent) == 2
    assert sent[1]["body"] == b"the request body is larger than 100 bytes\n"
