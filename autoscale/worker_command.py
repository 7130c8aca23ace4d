"""The command line of one app-tier worker, wherever it is launched: a local process, an EC2 instance's user data,
a container (docker-compose.yml is checked against it).

One Celery worker per instance, consuming `classify` only, prefork children of one model thread each: threads x
processes must not exceed the cores. `%h` is Celery's own hostname placeholder, so names stay unique across hosts.
"""

from __future__ import annotations

import sys

CELERY_APP = "project"


def worker_argv(name: str, *, queue: str, concurrency: int = 1, python: str = sys.executable) -> list[str]:
    return [python, "-m", "celery", "-A", CELERY_APP, "worker", "-Q", queue, "-n", f"{name}@%h",
            "--pool", "prefork", "--concurrency", str(concurrency), "--loglevel", "INFO"]  # fmt: skip
