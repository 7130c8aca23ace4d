"""Workers as local `celery worker` processes: the local mode's stand-in for EC2 instances.

Each worker has an instance id (`local-<n>`), a log file and a pid file under VAR_DIR/autoscale/. The pid files are
the fleet's record: an autoscaler that restarts finds the workers it launched before and counts them (those still
finishing their task: workers are sent SIGTERM when the autoscaler that launched them dies, common/lifetime.py). A
worker is pending until it starts consuming (it writes its ready file), running after that. Terminate sends SIGTERM:
a warm shutdown that finishes the task in hand.

A record never blocks anything: one whose process is gone, whose pid now belongs to another process (pids are
reused, and soon: the kernel may have only 32768 of them) or that cannot be read is forgotten when it is met.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from autoscale.providers.base import Instance, InstanceState, LaunchError
from autoscale.worker_command import WORKER_ENV, worker_argv
from common.lifetime import SUPERVISED_EXIT_SIGNAL, dies_with_this_process

logger = logging.getLogger(__name__)


@dataclass
class LocalProvider:
    state_dir: Path
    project_dir: Path
    queue: str = "classify"
    idle_seconds: float = 20.0
    extra_env: dict[str, str] | None = None
    name: str = "local"

    @classmethod
    def from_settings(cls) -> LocalProvider:
        state_dir = settings.VAR_DIR / "autoscale"
        return cls(state_dir, settings.BASE_DIR, settings.CLASSIFY_QUEUE, settings.WORKER_IDLE_SECONDS)

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def instances(self) -> list[Instance]:
        found = []
        for record_path in sorted(self.state_dir.glob("local-*.json")):
            record = _read_record(record_path)
            if record is None:
                continue
            instance_id = record["id"]
            if not self._alive(record):
                self._forget(instance_id)
                continue
            try:
                ready_at: float | None = self._path(instance_id, "ready").stat().st_mtime
            except FileNotFoundError:
                ready_at = None
            state = InstanceState.PENDING if ready_at is None else InstanceState.RUNNING
            found.append(Instance(instance_id, state, record["launched_at"], record["retires"], ready_at))
        return found

    def launch(self, count: int, *, retires: bool) -> list[Instance]:
        launched = []
        for _ in range(count):
            instance_id = self._next_id()
            try:
                launched.append(self._start(instance_id, retires))
            except OSError as exc:
                raise LaunchError(f"could not start {instance_id}: {exc}", launched) from exc
        return launched

    def terminate(self, ids: list[str]) -> None:
        for instance_id in ids:
            record = _read_record(self._path(instance_id, "json"))
            if record is None:
                continue  # never ours, or already gone
            if self._alive(record):
                _signal(record["pid"], signal.SIGTERM)

    # --- internals ----------------------------------------------------------------------------------------------
    def _start(self, instance_id: str, retires: bool) -> Instance:
        ready_file = self._path(instance_id, "ready")
        ready_file.unlink(missing_ok=True)
        env = {
            **os.environ,
            **(self.extra_env or {}),
            **WORKER_ENV,
            "CLASSIFIER_PRELOAD": "true",
            "WORKER_RETIRE": "true" if retires else "false",
            "WORKER_IDLE_SECONDS": str(self.idle_seconds),
            "WORKER_READY_FILE": str(ready_file),
        }
        argv = worker_argv(instance_id, queue=self.queue)
        with self._path(instance_id, "log").open("ab") as log:
            process = subprocess.Popen(
                argv, cwd=self.project_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=dies_with_this_process(SUPERVISED_EXIT_SIGNAL),  # a warm shutdown when we die
            )  # fmt: skip
        self._children[process.pid] = process
        launched_at = time.time()
        record = {"id": instance_id, "pid": process.pid, "started": _start_ticks(process.pid),
                  "launched_at": launched_at, "retires": retires}  # fmt: skip
        temporary = self._path(instance_id, "json.tmp")
        temporary.write_text(json.dumps(record))
        temporary.replace(self._path(instance_id, "json"))  # atomic: a reader never sees half a record
        logger.info("launched %s (pid %d, retires=%s)", instance_id, process.pid, retires)
        return Instance(instance_id, InstanceState.PENDING, launched_at, retires)

    def _alive(self, record: dict[str, Any]) -> bool:
        """Whether the record's worker still runs: its pid, started when the record says (a reused pid belongs to a
        process started later), running the worker the record names."""
        pid = record["pid"]
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:  # our own child: reap it, no zombie left
            del self._children[pid]
            return False
        started = _start_ticks(pid)
        if started is None:
            return False
        if "started" in record:
            # A pid and its start time name one process for the life of the machine. The command line is no
            # second check: it reads empty for a moment while a process is being set up.
            return bool(record["started"] == started)
        try:  # a record from before start times were kept: the worker's name in its command line
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return f"{record['id']}@".encode() in cmdline

    def _forget(self, instance_id: str) -> None:
        for suffix in ("json", "ready"):
            self._path(instance_id, suffix).unlink(missing_ok=True)

    def _next_id(self) -> str:
        """A fresh id, never one used before in this folder (its log file is kept)."""
        counter = self.state_dir / "counter"
        try:
            number = int(counter.read_text()) + 1
        except (OSError, ValueError):  # none yet, or torn by a crash: start above every id the folder shows
            used = [int(match[1]) for path in self.state_dir.glob("local-*") if (match := _ID.match(path.name))]
            number = max(used, default=0) + 1
        temporary = self.state_dir / "counter.tmp"
        temporary.write_text(str(number))
        temporary.replace(counter)
        return f"local-{number}"

    def _path(self, instance_id: str, suffix: str) -> Path:
        return self.state_dir / f"{instance_id}.{suffix}"

    def stop_all(self, timeout: float = 30.0) -> None:
        """SIGTERM every worker and wait for them (used when the whole local stack stops)."""
        instances = self.instances()
        self.terminate([instance.id for instance in instances])
        deadline = time.monotonic() + timeout
        while self.instances() and time.monotonic() < deadline:
            time.sleep(0.2)
        for instance in self.instances():
            record = _read_record(self._path(instance.id, "json"))
            if record is not None:
                _signal(record["pid"], signal.SIGKILL)
            self._forget(instance.id)


_ID = re.compile(r"local-(\d+)\.")


def _read_record(path: Path) -> dict[str, Any] | None:
    """A worker's record, or None when it is gone: another process (the autoscaler, a supervisor stopping the stack)
    forgets dead workers' records between our listing of the folder and our reading of one. Records are written
    whole (a rename), so one that cannot be read is not ours to understand: it is removed, not obeyed."""
    try:
        record: dict[str, Any] = json.loads(path.read_text())
        record["id"], record["pid"] = str(record["id"]), int(record["pid"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        logger.warning("removing unreadable worker record %s: %s", path, exc)
        path.unlink(missing_ok=True)
        return None
    return record


def _start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot), or None if there is none or it is a zombie (dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces and parentheses
    return None if fields[0] == "Z" else int(fields[19])  # fields 3 (state) and 22 (starttime) of proc(5)


def _signal(pid: int, signum: int) -> None:
    """Signal a worker that may have exited since it was last seen."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
