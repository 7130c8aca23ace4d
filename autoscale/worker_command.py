"""The command line of one app-tier worker, wherever it is launched: a local process, an EC2 instance's user data,
a container (docker-compose.yml is checked against it).

One Celery worker per instance, consuming `classify` only, prefork children of one model thread each: threads x
processes must not exceed the cores. `%h` is Celery's own hostname placeholder, so names stay unique across hosts.
"""

from __future__ import annotations

import sys

CELERY_APP = "project"


# What a worker started on this machine is given over the environment it inherits. A worker has no database (on AWS
# its host is given none): with the stack's PostgreSQL URL, Celery's Django fixup would close the connections before
# and after every task, and with psycopg's pool that makes and drops a pool each time.
WORKER_ENV = {"DATABASE_URL": ""}


def worker_argv(name: str, *, queue: str, concurrency: int = 1, python: str = sys.executable) -> list[str]:
    return [python, "-m", "celery", "-A", CELERY_APP, "worker", "-Q", queue, "-n", f"{name}@%h",
            "--pool", "prefork", "--concurrency", str(concurrency), "--loglevel", "INFO"]  # fmt: skip
