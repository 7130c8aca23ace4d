"""The chaos soak (bench/soak.py) for two minutes: worker kills, a results consumer restart, a database cut and an
endpoint restart under mixed load, with the stack's shipped defaults; nothing lost, duplicated or refused outside
the cut, no synchronous caller past its wait.

The soak makes, migrates and drops a PostgreSQL database of its own whatever this run's database is, so it runs once
per `make test`: in the first pass (SQLite), not again in the PostgreSQL one.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import pytest
from django.conf import settings

from tests.conftest import ROOT
from tests.integration.conftest import first_pass_only

pytestmark = pytest.mark.integration

POSTGRES = ("127.0.0.1", 5432)
# Two minutes of load, the drain and the stack's start and stop: about four minutes when all goes well.
SOAK_TIMEOUT = 420


def _postgres_reachable() -> bool:
    try:
        with socket.create_connection(POSTGRES, timeout=2):
            return True
    except OSError:
        return False


def _row(output: str, name: str) -> str:
    found = re.search(rf"^{re.escape(name)}  +(.*)$", output, re.MULTILINE)
    assert found, f"no {name!r} row in the soak's table"
    return found.group(1)


@pytest.mark.skipif(not _postgres_reachable(), reason="no PostgreSQL at 127.0.0.1:5432 for the soak's own database")
@first_pass_only("the soak brings its own PostgreSQL database")
def test_two_minute_chaos_soak_loses_nothing() -> None:
    soak = subprocess.Popen([sys.executable, "bench/soak.py", "--minutes", "2"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        output, _ = soak.communicate(timeout=SOAK_TIMEOUT)
    except subprocess.TimeoutExpired:
        soak.send_signal(signal.SIGINT)  # its finally stops every process it started and drops its database
        output, _ = soak.communicate(timeout=120)
    print(output)
    assert soak.returncode == 0, output[-3000:]
    for name in (
        "lost",
        "duplicated (recorded twice)",
        "503 outside the cut",
        "4xx",
        "stack processes that exited",
        "pool processes outliving their worker",
    ):
        assert _row(output, name) == "0", name
    assert _row(output, "other 5xx / no answer") == "0 / 0"
    assert _row(output, f"sync callers past {settings.SYNC_WAIT_SECONDS:g} s").startswith("0 ")
