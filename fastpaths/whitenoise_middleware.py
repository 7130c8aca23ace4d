"""WhiteNoise's middleware, bent: static files served without taking every request off the event loop.

WhiteNoise's middleware is synchronous only, and one synchronous middleware makes Django run the whole chain below
it in a thread for every request, then hop back to the event loop for our asynchronous upload views: two thread
hops and a thread started per request (`make bench` prints what this saves). This subclass answers both ways: the
same look-up and the same response headers, with a static file's body read in a worker thread as an asynchronous
stream. It re-does WhiteNoise's `__call__` with WhiteNoise's own attributes (`files`, `autorefresh`, `find_file`,
`static_prefix`, `directories`), held by tests/fastpaths/test_guards.py. With FAST_PATHS off the settings name
WhiteNoise's own middleware.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware

CHUNK_BYTES = 64 * 1024


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(get_response, *args, **kwargs)
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:  # development: look on disk each time, but only where a static file could be
            static_file = (
                await sync_to_async(self.find_file)(request.path_info) if self._may_be_static(request) else None
            )
        else:
            static_file = self.files.get(request.path_info)
        if static_file is None:
            return await self.get_response(request)
        found = static_file.get_response(request.method, request.META)
        response = StreamingHttpResponse(_read(found.file), status=int(found.status))
        del response["content-type"]  # WhiteNoise's headers below say what it is
        for key, value in found.headers:
            response[key] = value
        return response

    def _may_be_static(self, request: HttpRequest) -> bool:
        """Whether the path lies under a prefix WhiteNoise serves from; the look-up finds nothing anywhere else."""
        url = request.path_info
        return url.startswith(self.static_prefix) or any(url.startswith(prefix) for _, prefix in self.directories)


async def _read(file: BinaryIO | None) -> AsyncIterator[bytes]:
    """The file in chunks; nothing for a response without a body (HEAD, 304)."""
    if file is None:
        return
    read = sync_to_async(file.read, thread_sensitive=False)
    try:
        while chunk := await read(CHUNK_BYTES):
            yield chunk
    finally:
        file.close()
