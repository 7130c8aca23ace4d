"""Child processes that are started, watched and stopped by their own process ids.

Each child gets its own session, so a Ctrl-C in the terminal reaches only the supervisor, which then stops the
children in a deliberate order (web first, broker last) instead of all of them at once. A supervisor that cannot
stop them (it was SIGKILLed) still takes them along: each child is sent SIGTERM when it dies (common/lifetime.py).
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from common.lifetime import SUPERVISED_EXIT_SIGNAL, dies_with_this_process

logger = logging.getLogger(__name__)

PYTHON = sys.executable


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
        *,
        inherit_environment: bool = True,
    ) -> None:
        """`inherit_environment=False`: the child sees `env` alone, as a systemd unit sees only what it is given
        (the EC2 test plays hosts whose services must not pick up this machine's settings)."""
        self.name = name
        self.argv = list(argv)
        self.env = {**(os.environ if inherit_environment else {}), **(env or {})}
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> ManagedProcess:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=dies_with_this_process(SUPERVISED_EXIT_SIGNAL),
        )
        logger.info("started %s (pid %s)", self.name, self.process.pid)
        return self

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def send_signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0, signum: int = signal.SIGTERM) -> int | None:
        """Ask politely, wait, then kill. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.wait_or_kill(timeout)

    def wait_or_kill(self, timeout: float) -> int | None:
        """Wait for a process that was asked to stop; kill it after `timeout`. Returns the exit code."""
        if self.process is None:
            return None
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s (pid %s) did not stop in %.0f s; killing it", self.name, self.pid, timeout)
            self.process.kill()
            self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.process.returncode


def stop_together(processes: Sequence[ManagedProcess], timeout: float = 20.0) -> None:
    """Stop peers at once: SIGTERM to all, then wait for each (what is left of `timeout`), then kill. A Celery
    worker's warm shutdown takes seconds (its pool's threads wind down one by one); one after the other, a stack's
    workers would add those up."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        process.wait_or_kill(max(0.0, deadline - time.monotonic()))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def bind_error(host: str, port: int) -> str | None:
    """Why a server could not listen on host:port now, or None if it could. With SO_REUSEADDR, as uvicorn and moto
    bind: a port whose last connections linger in TIME_WAIT is free for them; only another listener holds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
    return None


def wait_for_port(host: str, port: int, timeout: float, process: ManagedProcess | None = None) -> None:
    """Wait until something accepts connections on host:port; fail early if `process` dies meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.exit_code() is not None:
            raise RuntimeError(f"{process.name} exited with code {process.exit_code()} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout:.0f} s")
