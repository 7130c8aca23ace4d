"""A nudge from the results consumer to the web processes on its host: "results were recorded, look now".

Synchronous callers wait on a poller that asks the database every RESULT_POLL_SECONDS (classifier/results/waiting.py);
on average a result then waits half a tick for its caller to hear of it, which was most of the latency the service
added to one request. Each web process's poller listens on a Unix datagram socket of its own in RESULT_WAKEUP_DIR;
after every recorded batch the consumer sends an empty datagram to each socket there, and the pollers look at once.
A nudge carries nothing and may be lost (a full socket buffer, a web tier on another host): the timed poll stays,
so a lost nudge costs what every result cost before.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

SUFFIX = ".sock"
_numbers = itertools.count()


def wakeup_dir() -> Path:
    return Path(settings.RESULT_WAKEUP_DIR)


def nudge_waiters() -> int:
    """Tell every listening web process on this host to look now; returns how many were told. Never raises."""
    folder = wakeup_dir()
    try:
        paths = [path for path in folder.iterdir() if path.name.endswith(SUFFIX)]
    except OSError:
        return 0  # no web process has listened on this host yet
    told = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for path in paths:
            try:
                sender.sendto(b"", str(path))
                told += 1
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    path.unlink()  # its web process is gone
            except OSError:  # a full buffer: that process has a nudge waiting already, or will poll
                continue
    return told


class Listener:
    """One event loop's socket: `woken` is set when a nudge arrives; the poller clears it before it looks."""

    def __init__(self) -> None:
        self.woken = asyncio.Event()
        self._socket: socket.socket | None = None

    def start(self) -> bool:
        """Listen (idempotent); False where this process cannot (the poller then only polls)."""
        if self._socket is not None:
            return True
        folder = wakeup_dir()
        path = folder / f"{os.getpid()}-{next(_numbers)}{SUFFIX}"  # short: a socket's path has at most 107 bytes
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            listening = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            listening.setblocking(False)
            listening.bind(str(path))
        except OSError as exc:
            logger.warning("results will be found by polling alone: cannot listen in %s (%s)", folder, exc)
            return False
        asyncio.get_running_loop().add_reader(listening.fileno(), self._drain)
        self._socket = listening
        return True

    def _drain(self) -> None:
        assert self._socket is not None
        with contextlib.suppress(BlockingIOError):
            while True:
                self._socket.recv(16)
        self.woken.set()
