"""`manage.py runstack` as `make run` starts it: ready, answering, and gone after Ctrl-C or a SIGKILL, children
included; a busy port refused before anything starts; `manage.py migrate` into a VAR_DIR that does not exist yet."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from classifier.models import Classification, Status
from stack.processes import free_port
from tests.conftest import IMAGES_DIR, ROOT
from tests.integration.conftest import database_url, first_pass_only

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    first_pass_only("the command's processes, ports and signals"),
]


def children_of(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


def descendants_of(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        children = children_of(todo.pop()) - found
        found |= children
        todo.extend(children)
    return found


def carrying(var_dir: Path) -> set[int]:
    """Every process whose environment names `var_dir`: the stack's, however they were started and whoever is their
    parent now."""
    marker = f"VAR_DIR={var_dir}\0".encode()
    found = set()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes():
                found.add(int(environ.parent.name))
        except OSError:
            continue
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "(gone)"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


def _wait_ready(runstack: subprocess.Popen[str]) -> None:
    """Read runstack's output until it says it is ready; fail if it exits first."""
    assert runstack.stdout is not None
    for line in runstack.stdout:
        if line.startswith("Ready:"):
            return
    pytest.fail("runstack exited before it was ready")


def test_sync_wait_times_out_with_504_and_ctrl_c_stops_everything(tmp_path) -> None:
    from django.db import connection

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "VAR_DIR": str(tmp_path),
        "SYNC_WAIT_SECONDS": "1",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("LOCAL_WORKERS", None)  # no workers and no autoscaler: nobody answers, the wait must give up cleanly
    runstack = subprocess.Popen(
        [sys.executable, "manage.py", "runstack", "--port", str(port), "--no-autoscale"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children: set[int] = set()
    try:
        _wait_ready(runstack)
        children = children_of(runstack.pid)
        assert len(children) == 4  # endpoint, results consumer, sweeper, web

        with (IMAGES_DIR / "test_2.JPEG").open("rb") as handle:
            response = httpx.post(f"http://127.0.0.1:{port}/", files={"myfile": handle}, timeout=30)
        assert response.status_code == 504
        assert "timed out after 1 s waiting for a worker" in response.text
        assert "will still be classified" in response.text
        row = Classification.objects.get()
        assert row.status == Status.QUEUED  # accepted and kept, waiting for a worker

        runstack.send_signal(signal.SIGINT)
        assert runstack.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in children if alive(pid)]
    finally:
        if runstack.poll() is None:
            runstack.kill()
            runstack.wait()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def runstack_env(var_dir: Path) -> dict[str, str]:
    from django.db import connection

    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "VAR_DIR": str(var_dir)}
    for name in ("AWS_ENDPOINT_URL", "LOCAL_WORKERS", "WEB_PORT", "EMBEDDED_AWS_PORT"):
        env.pop(name, None)  # the defaults `make run` ships: embedded endpoint, autoscaler
    return env


def wait_for(what: str, condition, timeout: float, runstack: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert runstack.poll() is None, f"runstack exited with {runstack.returncode} while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.2)


def test_sigkill_of_runstack_leaves_no_process_behind(tmp_path) -> None:
    """A closed terminal or the OOM killer: the supervisor cannot stop anything, the kernel signals its children,
    and they take their own children along (the autoscaler its workers, a worker its pool process)."""
    port = free_port()
    runstack = subprocess.Popen([sys.executable, "manage.py", "runstack", "--port", str(port)], cwd=ROOT,
                                env=runstack_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)  # fmt: skip
    stack: set[int] = set()
    try:
        _wait_ready(runstack)
        with (IMAGES_DIR / "test_2.JPEG").open("rb") as handle:  # work, so that the autoscaler launches a worker
            response = httpx.post(f"http://127.0.0.1:{port}/api/classifications", files={"file": handle}, timeout=30)
        assert response.status_code == 202, response.text
        wait_for("worker consuming", (tmp_path / "autoscale" / "local-1.ready").exists, 180, runstack)
        wait_for("label", lambda: Classification.objects.filter(status=Status.DONE).exists(), 180, runstack)

        stack = descendants_of(runstack.pid)
        commands = {pid: cmdline(pid) for pid in stack}
        # A pool process is a fork of its worker, with the same command line: the worker is the one whose parent
        # is not a worker too.
        workers = {pid for pid, command in commands.items() if "local-1@" in command}
        worker = next(pid for pid in workers if not any(pid in children_of(other) for other in workers))
        pool = children_of(worker)
        assert pool, "the worker has no pool process"
        parts = ("stack.endpoint", "uvicorn", "manage.py consume_results", "manage.py sweep", "manage.py autoscale")
        for part in parts:
            assert any(part in command for command in commands.values()), (part, commands)

        killed = time.monotonic()
        os.kill(runstack.pid, signal.SIGKILL)
        runstack.wait()
        while (left := {pid for pid in stack | carrying(tmp_path) if alive(pid)}) and time.monotonic() < killed + 10:
            time.sleep(0.1)
        assert not left, {pid: cmdline(pid) for pid in left}
    finally:
        if runstack.poll() is None:
            runstack.kill()
            runstack.wait()
        for pid in stack | carrying(tmp_path):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize(("flag", "variable"), [("--port", "WEB_PORT"), ("--aws-port", "EMBEDDED_AWS_PORT")])
def test_a_busy_port_is_one_line_before_anything_starts(tmp_path, busy_port, flag, variable) -> None:
    ports = {"--port": str(free_port()), "--aws-port": str(free_port()), flag: str(busy_port)}
    argv = [sys.executable, "manage.py", "runstack", *(part for option in ports.items() for part in option)]
    try:
        result = subprocess.run(argv, cwd=ROOT, env=runstack_env(tmp_path), capture_output=True, text=True,
                                timeout=60)  # fmt: skip
    finally:
        leftovers = carrying(tmp_path)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {busy_port} on 127.0.0.1" in lines[0] and "already in use" in lines[0]
    assert flag in lines[0] and variable in lines[0]
    assert result.stdout == ""
    assert not leftovers  # nothing was started: no process, and no log of one
    assert not (tmp_path / "log").exists()


def test_migrate_creates_a_var_dir_that_does_not_exist_yet(tmp_path) -> None:
    var_dir = tmp_path / "fresh" / "var"
    env = {**os.environ, "VAR_DIR": str(var_dir)}
    env.pop("DATABASE_URL", None)  # the default: SQLite under VAR_DIR
    result = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (var_dir / "db.sqlite3").stat().st_size > 0
