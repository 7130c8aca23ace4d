"""`make bench` in small: the benchmark runs end to end and its table says what it should (not how fast: these
machines are shared, so figures are read by a person from the full run, never asserted in a test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import first_pass_only

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _figure(table: str, name: str) -> str:
    found = re.search(rf"^{re.escape(name)}  +(\S+)", table, re.MULTILINE)
    assert found, f"no {name!r} row in:\n{table}"
    return found.group(1)


@first_pass_only("the benchmark brings its own SQLite database")
def test_the_benchmark_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, "bench/pipeline.py", "--images", "20", "--requests", "40", "--concurrency", "10",
         "--rounds", "1", "--from-zero", "10", "--backlog", "50"],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    table = done.stdout
    for name in ("bare best, torch eager", "bare best, onnx", "stack, sync at concurrency 10", "SQS calls per image"):
        assert float(_figure(table, name)) > 0, name
    assert "workers on onnxruntime-" in table  # the stack ran the backend `auto` picks here
    in_stack = re.search(r"the model's own step took ([0-9.]+) ms of CPU in the stack", table)
    assert in_stack and float(in_stack.group(1)) > 0, table  # read back from the stack's metrics
    assert float(_figure(table, "  the model's as measured in the stack")) > 0
    agreeing = re.search(r"^labels as the bare torch model +(\d+) +of (\d+)", table, re.MULTILINE)
    assert agreeing and agreeing[2] == "20" and int(agreeing[1]) >= 19, table
    assert 0 < float(_figure(table, "one worker's memory")) < 4000
    assert float(_figure(table, "cold start, onnx")) > 0
    assert float(_figure(table, "cold start, torch")) > 0
    assert float(_figure(table, "from zero, 10 images")) > 0
    assert float(_figure(table, "results consumer, 50 waiting")) > 0
