"""A nudge from the results consumer to the web processes on its host: "these results were recorded".

Synchronous callers wait on a poller (classifier/results/waiting.py). Each web process's poller listens on a Unix
datagram socket of its own in RESULT_WAKEUP_DIR; after every recorded batch the consumer sends one datagram to each
socket there. It carries the batch's answers (the fields a waiter answers with, as committed), so a waiter is
answered without a query; an empty one says "look in the database" (the batch recorded something else too, a
failure say). Under load the poller's queries had cost the web tier a share of each upload's CPU.

Answers are taken only from a sender running as this process's user (the kernel vouches for it: SO_PASSCRED, Linux);
anything else, and every datagram where the kernel cannot say who sent it (macOS), only makes the poller look. A
nudge may be lost (a full socket buffer): the timed look stays, so a lost nudge costs at most its wait
(RESULT_POLL_SECONDS, up to a second while pushes arrive). Web processes on other hosts hear of the same answers from
the database (classifier/results/announce.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import json
import logging
import os
import socket
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

SUFFIX = ".sock"
_numbers = itertools.count()
# What one datagram may carry: a batch of ten answers is a few kB; a larger one goes as a plain nudge.
MAX_DATAGRAM = 64 * 1024
_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid
# Whether the kernel tells a receiver who sent a datagram (Linux); without it no answer is taken from a datagram.
_VOUCHED = hasattr(socket, "SO_PASSCRED") and hasattr(socket, "SCM_CREDENTIALS")

Answer = Mapping[str, str]


def wakeup_dir() -> Path:
    return Path(settings.RESULT_WAKEUP_DIR)


def nudge_waiters(answers: Sequence[Answer] = ()) -> int:
    """Tell every listening web process on this host of `answers` (committed), or to look now if there are none;
    returns how many were told. Never raises."""
    folder = wakeup_dir()
    try:
        paths = [path for path in folder.iterdir() if path.name.endswith(SUFFIX)]
    except OSError:
        return 0  # no web process has listened on this host yet
    payload = json.dumps(list(answers), separators=(",", ":")).encode() if answers else b""
    if len(payload) > MAX_DATAGRAM:
        payload = b""
    told = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for path in paths:
            try:
                _send(sender, payload, path)
                told += 1
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    path.unlink()  # its web process is gone
            except OSError:  # a full buffer: that process has a nudge waiting already, or will poll
                continue
    return told


def _send(sender: socket.socket, payload: bytes, path: Path) -> None:
    try:
        sender.sendto(payload, str(path))
    except OSError as exc:
        if exc.errno != errno.EMSGSIZE or not payload:
            raise
        sender.sendto(b"", str(path))  # the host allows smaller datagrams: the poller looks instead


class Listener:
    """One event loop's socket: `woken` is set when a nudge arrives; the poller clears it, then `take()`s what came."""

    def __init__(self) -> None:
        self.woken = asyncio.Event()
        self._socket: socket.socket | None = None
        self._answers: list[Answer] = []
        self._look = False  # a nudge came without answers we can take: the poller must ask the database

    def take(self) -> tuple[list[Answer], bool]:
        """The answers pushed since the last call, and whether a nudge asked the poller to look as well."""
        answers, look = self._answers, self._look
        self._answers, self._look = [], False
        return answers, look

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
            if _VOUCHED:
                listening.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            listening.bind(str(path))
        except OSError as exc:
            logger.warning("results will be found by polling alone: cannot listen in %s (%s)", folder, exc)
            return False
        asyncio.get_running_loop().add_reader(listening.fileno(), self._drain)
        self._socket = listening
        return True

    @property
    def path(self) -> str | None:
        return self._socket.getsockname() if self._socket is not None else None

    @property
    def listening(self) -> bool:
        return self._socket is not None

    def deliver(self, answers: list[Answer] | None) -> None:
        """Answers pushed by some sender (None: look in the database), then wake the poller."""
        if answers is None:
            self._look = True
        else:
            self._answers += answers
        self.woken.set()

    def close(self) -> None:
        """Stop listening, and take the socket's name out of the folder."""
        if self._socket is None:
            return
        path = self.path
        asyncio.get_running_loop().remove_reader(self._socket.fileno())
        self._socket.close()
        self._socket = None
        with contextlib.suppress(OSError):
            Path(path).unlink()  # type: ignore[arg-type]

    def _drain(self) -> None:
        assert self._socket is not None
        with contextlib.suppress(BlockingIOError):
            while True:
                data, ancillary, _, _ = self._socket.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(_CREDENTIALS.size))
                self.deliver(_answers_in(data) if _VOUCHED and _sent_by_our_user(ancillary) else None)
        self.woken.set()


def _sent_by_our_user(ancillary: list[tuple[int, int, bytes]]) -> bool:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= _CREDENTIALS.size:
            _, uid, _ = _CREDENTIALS.unpack_from(data)
            return uid == os.getuid()
    return False


def _answers_in(data: bytes) -> list[Answer] | None:
    """The answers a datagram carries; None for a plain nudge or anything not a list of string-valued objects."""
    if not data:
        return None
    try:
        answers = json.loads(data)
    except ValueError:
        return None
    if not isinstance(answers, list) or not all(
        isinstance(answer, dict) and all(isinstance(value, str) for value in answer.values()) for answer in answers
    ):
        return None
    return answers
