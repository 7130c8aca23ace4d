"""`manage.py runstack` as `make run` starts it: ready, answering, and gone after Ctrl-C, children included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from classifier.models import Classification, Status
from stack.processes import free_port
from tests.conftest import IMAGES_DIR, ROOT
from tests.integration.conftest import database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


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


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()


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
        assert runstack.stdout is not None
        for line in runstack.stdout:
            if line.startswith("Ready:"):
                break
        else:
            pytest.fail("runstack exited before it was ready")
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
