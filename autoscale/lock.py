"""One autoscaler per fleet: a PostgreSQL advisory lock, or an exclusive file lock beside the SQLite database.

Neither goes stale, so neither needs cleaning: the kernel drops a flock when the process that holds it ends, however
it ends (the file stays, unlocked; Python opens it non-inheritable, so the workers an autoscaler launches never share
it), and PostgreSQL drops an advisory lock when its session ends. The file holds the holder's pid for the refusal's
message only; it is never read to decide.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections


class AlreadyRunning(RuntimeError):
    pass


@contextmanager
def fleet_lock(fleet: str, lock_dir: Path) -> Iterator[Callable[[], None]]:
    """Hold the fleet's lock; yields a check for each tick, which raises AlreadyRunning if the lock was lost to
    another autoscaler (PostgreSQL: a database outage ended the session that held it) and takes it again if not."""
    refused = f"another autoscaler holds the lock for fleet {fleet!r}"
    if connection.vendor == "postgresql":
        with _advisory_lock(zlib.crc32(f"autoscale:{fleet}".encode()), refused) as check:
            yield check
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    # "a+": opening must not truncate the file, which holds the current holder's pid.
    with (lock_dir / f"autoscale-{fleet}.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            raise AlreadyRunning(f"{refused} (pid {holder or 'unknown'})") from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield lambda: None  # a flock lasts as long as this process


class _AdvisoryLock:
    """A session-level advisory lock on a connection of its own, outside Django's handler: the command loop closes
    Django's broken connections after a failed tick, and the session that closes takes its advisory locks with it."""

    def __init__(self, key: int, refused: str) -> None:
        self.key = key
        self.refused = refused
        self.holder: Any = None

    def take(self) -> None:
        self.holder = connections.create_connection(DEFAULT_DB_ALIAS)
        with self.holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
            if not cursor.fetchone()[0]:
                self.close()
                raise AlreadyRunning(self.refused)

    def check(self) -> None:
        """Each tick: the holding session still answers, or a new one takes the lock (or learns who has it)."""
        try:
            with self.holder.cursor() as cursor:
                cursor.execute("SELECT 1")
            return
        except DatabaseError:
            self.close()
        self.take()  # a database still away raises DatabaseError: the tick fails, and is retried

    def close(self) -> None:
        if self.holder is not None:
            with contextlib.suppress(DatabaseError):
                self.holder.close()
            self.holder = None


@contextmanager
def _advisory_lock(key: int, refused: str) -> Iterator[Callable[[], None]]:
    lock = _AdvisoryLock(key, refused)
    lock.take()
    try:
        yield lock.check
    finally:
        # The database may be gone by now: then so is the session, and the lock with it.
        if lock.holder is not None:
            with contextlib.suppress(DatabaseError), lock.holder.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        lock.close()
