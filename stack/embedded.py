"""The embedded AWS endpoint of local mode: moto in server mode on 127.0.0.1 (SQS, S3, EC2, …), started through
stack/endpoint.py, which takes three of moto's per-request costs out and keeps connections open between calls
(moto's own server with FAST_PATHS off).

It keeps nothing across restarts; what was queued is re-sent from the database.
"""

from __future__ import annotations

from pathlib import Path

from stack.processes import PYTHON, ManagedProcess, free_port, wait_for_port

HOST = "127.0.0.1"
# `python -m stack.endpoint` finds the package from the repository's root, wherever the caller runs.
REPOSITORY = Path(__file__).resolve().parent.parent

# moto accepts any credentials; these keep boto3 from looking for real ones.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def start_endpoint(port: int = 0, log_path: Path | None = None) -> tuple[ManagedProcess, str]:
    """Start moto's server and wait until it answers; returns the process and its endpoint URL."""
    from django.conf import settings

    port = port or free_port(HOST)
    server = "stack.endpoint" if "moto_server" in settings.FAST_PATHS else "moto.server"
    process = ManagedProcess(
        "aws-endpoint", [PYTHON, "-m", server, "-H", HOST, "-p", str(port)], log_path=log_path, cwd=REPOSITORY
    ).start()
    wait_for_port(HOST, port, timeout=30, process=process)
    return process, f"http://{HOST}:{port}"
