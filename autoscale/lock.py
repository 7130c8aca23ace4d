"""One autoscaler per fleet: a PostgreSQL advisory lock, or an exclusive file lock beside the SQLite database."""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection


class AlreadyRunning(RuntimeError):
    pass


@contextmanager
def fleet_lock(fleet: str, lock_dir: Path) -> Iterator[None]:
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"autoscale:{fleet}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            if not cursor.fetchone()[0]:
                raise AlreadyRunning(f"another autoscaler holds the lock for fleet {fleet!r}")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / f"autoscale-{fleet}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"another autoscaler holds the lock for fleet {fleet!r}") from None
        yield
