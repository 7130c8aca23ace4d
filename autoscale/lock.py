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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections


class AlreadyRunning(RuntimeError):
    pass


@contextmanager
def fleet_lock(fleet: str, lock_dir: Path) -> Iterator[None]:
    refused = f"another autoscaler holds the lock for fleet {fleet!r}"
    if connection.vendor == "postgresql":
        with _advisory_lock(zlib.crc32(f"autoscale:{fleet}".encode()), refused):
            yield
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
        yield


@contextmanager
def _advisory_lock(key: int, refused: str) -> Iterator[None]:
    # A connection of its own, outside Django's handler: the command loop closes Django's connections after a failed
    # tick (the next one connects afresh), and the session that closes takes its advisory locks with it.
    holder = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if not cursor.fetchone()[0]:
                raise AlreadyRunning(refused)
        try:
            yield
        finally:
            # The database may be gone by now: then so is the session, and the lock with it.
            with contextlib.suppress(DatabaseError), holder.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    finally:
        holder.close()
