"""Where a hook or a receiver ran, for the tests of the ASGI handler and the middleware twins."""

from __future__ import annotations

import asyncio


def on_the_loop() -> bool:
    """Whether the caller runs on a running event loop's thread, rather than in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
