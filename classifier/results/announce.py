"""Results announced across hosts: the results consumer's commit tells every web process of the deployment, on any
host, through PostgreSQL's LISTEN/NOTIFY.

The datagram nudge (classifier/results/wakeup.py) reaches only the web processes on the consumer's own host. With
several web hosts behind a load balancer, a synchronous caller's result is as likely recorded by another host's
consumer, and was then found only by the poller's timed look. Here the consumer adds a NOTIFY to the transaction
that records a batch, so PostgreSQL delivers it exactly when (and only if) the batch commits, carrying the same
answers as the datagram; each web process listens on one connection of its own and hands what arrives to its
poller. Answers from the process's own host are left to the datagram, which is there first; a notification too
large to carry its answers (PostgreSQL takes under 8000 bytes) only asks the pollers to look.
RESULT_ANNOUNCEMENTS=false turns it off (one web host gains nothing from it).

Anyone who may connect to the database may NOTIFY: answers are taken only when signed with a key derived from
DJANGO_SECRET_KEY, which every host of a deployment shares; anything else only makes the pollers look. On SQLite
(one host by nature) nothing is announced.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import Sequence
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection

from classifier.results.wakeup import Answer, Listener, wakeup_dir

logger = logging.getLogger(__name__)

CHANNEL = "classifier_results"
MAX_PAYLOAD = 7900  # PostgreSQL's limit is 8000 bytes
RECONNECT_SECONDS = (1.0, 30.0)  # first and longest wait before listening again after a lost connection


def announces() -> bool:
    return settings.RESULT_ANNOUNCEMENTS and connection.vendor == "postgresql"


@cache
def this_host() -> str:
    """What the datagram nudge reaches: the web processes of this machine that share its wake-up folder."""
    return f"{socket.gethostname()}:{wakeup_dir().resolve()}"


@cache
def _key() -> bytes:
    return hashlib.sha256(b"classifier results announcement:" + settings.SECRET_KEY.encode()).digest()


def _signed(body: str) -> str:
    return hmac.new(_key(), body.encode(), hashlib.sha256).hexdigest() + "." + body


def payload(answers: Sequence[Answer]) -> str:
    body = json.dumps({"host": this_host(), "answers": list(answers)}, separators=(",", ":"))
    if len(body) > MAX_PAYLOAD - 65:
        body = json.dumps({"host": this_host(), "answers": []}, separators=(",", ":"))
    return _signed(body)


def announce(answers: Sequence[Answer]) -> None:
    """Inside the transaction that recorded them: delivered to every listener when it commits, never if it rolls
    back. No answers: "look in the database" (the batch finished requests some other way too)."""
    if announces():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, payload(answers)])


def read(text: str) -> tuple[str, list[Answer] | None]:
    """The sending host and the answers a notification carries; None (look) for a plain or an unsigned one."""
    signature, _, body = text.partition(".")
    if not hmac.compare_digest(signature, hmac.new(_key(), body.encode(), hashlib.sha256).hexdigest()):
        return "", None
    try:
        message = json.loads(body)
        host, answers = str(message["host"]), message["answers"]
    except (ValueError, KeyError, TypeError):
        return "", None
    if not isinstance(answers, list) or not all(
        isinstance(answer, dict) and all(isinstance(value, str) for value in answer.values()) for answer in answers
    ):
        return host, None
    return host, answers or None


def _conninfo() -> str:
    """Django's own connection parameters, less the ones that are psycopg objects rather than libpq settings."""
    import psycopg

    params: dict[str, Any] = dict(connection.get_connection_params())
    for name in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(name, None)
    return str(psycopg.conninfo.make_conninfo(**{key: value for key, value in params.items() if value is not None}))


class DatabaseListener:
    """One event loop's LISTEN connection, feeding the same Listener the datagrams feed."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if announces() and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="results-announcements")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        import psycopg

        wait = RECONNECT_SECONDS[0]
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(_conninfo(), autocommit=True) as listening:
                    await listening.execute(f"LISTEN {CHANNEL}")
                    wait = RECONNECT_SECONDS[0]
                    self.listener.deliver(None)  # what was announced while not listening: look once
                    async for notification in listening.notifies():
                        self._take(notification.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure (the database, the network, a bad setting): poll, then retry
                logger.warning("results from other hosts found by polling alone for now: %s", exc)
            await asyncio.sleep(wait)
            wait = min(RECONNECT_SECONDS[1], wait * 2)

    def _take(self, text: str) -> None:
        host, answers = read(text)
        if host == this_host() and self.listener.listening:
            return  # the datagram brought it already
        self.listener.deliver(answers)
