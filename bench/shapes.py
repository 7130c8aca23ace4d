"""The two shapes the benchmark measures the stack in, and what each one's environment is.

- local: what `make run` starts with its defaults: images and results on this machine's disk, SQLite.
- production: what AWS runs: images and results in S3 (here the embedded endpoint, moto, on the same cores), and
  PostgreSQL (this machine's server, a new database for the run, dropped after).

Both at the shipped log level and format (the settings' defaults: nothing here sets them). A figure from one shape
never stands for the other: the table prints them side by side.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

SHAPES = ("local", "production")
# The PostgreSQL server a production-shape run makes its database on (trust auth, as on the development machines).
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def shape_env(shape: str, scratch: Path, database_url: str = "") -> dict[str, str]:
    """The environment a stack of `shape` starts in; `database_url` is production's database."""
    base = {"VAR_DIR": str(scratch)}
    if shape == "local":
        return {**base, "STORAGE_BACKEND": "filesystem", "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}"}
    if shape == "production":
        return {**base, "STORAGE_BACKEND": "s3", "DATABASE_URL": database_url}
    raise ValueError(f"no shape {shape!r}; the shapes are {', '.join(SHAPES)}")


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database on the PostgreSQL server for one run, dropped after (its connections closed first)."""
    import psycopg

    name = f"bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"the production shape needs PostgreSQL at {POSTGRES_ADMIN_URL} (BENCH_POSTGRES_URL): {exc}"
        ) from None
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgres://", 1) + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
