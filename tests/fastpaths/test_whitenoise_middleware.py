"""Static files through the asynchronous middleware chain: served as WhiteNoise serves them, and every other request
passes through without leaving the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from django.test import AsyncClient

from fastpaths.whitenoise_middleware import AsyncWhiteNoiseMiddleware
from tests.conftest import ROOT

STYLESHEET = ROOT / "classifier" / "static" / "classifier" / "site.css"


async def _body(response: Any) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


def test_a_static_file_is_streamed_with_whitenoise_s_headers() -> None:
    async def fetch() -> tuple[Any, bytes]:
        response = await AsyncClient().get("/static/classifier/site.css")
        return response, await _body(response)

    response, body = asyncio.run(fetch())
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert int(response["Content-Length"]) == STYLESHEET.stat().st_size
    assert body == STYLESHEET.read_bytes()


def test_a_head_request_and_a_missing_file() -> None:
    async def fetch() -> tuple[int, str, int]:
        head = await AsyncClient().head("/static/classifier/site.css")
        missing = await AsyncClient().get("/static/classifier/missing.css")  # not a static file: on to Django
        return head.status_code, head["Content-Length"], missing.status_code

    assert asyncio.run(fetch()) == (200, str(STYLESHEET.stat().st_size), 404)


def test_the_chain_stays_asynchronous() -> None:
    """One synchronous middleware would send every request through a thread (the module's docstring)."""

    async def view(request: object) -> None:
        return None

    assert AsyncWhiteNoiseMiddleware.async_capable
    from asgiref.sync import iscoroutinefunction

    assert iscoroutinefunction(AsyncWhiteNoiseMiddleware(view))
    assert not iscoroutinefunction(AsyncWhiteNoiseMiddleware(lambda request: None))


def test_only_a_path_under_a_static_prefix_is_looked_up_on_disk(settings, monkeypatch) -> None:
    """In development WhiteNoise looks on disk for each request, in a thread; a path it serves nothing under (`POST /`)
    is not looked up at all."""
    looked_up: list[str] = []
    find_file = AsyncWhiteNoiseMiddleware.find_file

    def spy(self: AsyncWhiteNoiseMiddleware, url: str) -> Any:
        looked_up.append(url)
        return find_file(self, url)

    monkeypatch.setattr(AsyncWhiteNoiseMiddleware, "find_file", spy)

    async def view(request: object) -> str:
        return "the view"

    settings.WHITENOISE_AUTOREFRESH = True
    middleware = AsyncWhiteNoiseMiddleware(view)
    from django.test import RequestFactory

    assert asyncio.run(middleware(RequestFactory().post("/"))) == "the view"
    assert asyncio.run(middleware(RequestFactory().get("/api/classifications"))) == "the view"
    assert looked_up == []
    response = asyncio.run(middleware(RequestFactory().get("/static/classifier/site.css")))
    assert response.status_code == 200
    assert looked_up == ["/static/classifier/site.css"]
