"""`make bench` in small: the benchmark runs end to end and its table says what it should (not how fast: these
machines are shared, so figures are read by a person from the full run, never asserted in a test). The stack runs
four times in each shape (local, production): every fast path on, FAST_PATHS off, and two fast paths each off on its
own (`--each-only`), the rest of `--each` being the same loop."""

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


def _both(table: str, name: str) -> tuple[float, float]:
    """A stack row's two figures: with every fast path on, and with FAST_PATHS off."""
    found = re.search(rf"^{re.escape(name)}  +([0-9.]+)(?: \S+)?  +([0-9.]+)", table, re.MULTILINE)
    assert found, f"no {name!r} row with two figures in:\n{table}"
    return float(found.group(1)), float(found.group(2))


@first_pass_only("the benchmark brings its own databases (SQLite, and one made on this machine's PostgreSQL)")
def test_the_benchmark_prints_its_table() -> None:
    done = subprocess.run(
        [sys.executable, "bench/pipeline.py", "--images", "20", "--requests", "40", "--concurrency", "10",
         "--rounds", "1", "--from-zero", "10", "--backlog", "50", "--each-only", "kombu_sqs,botocore_s3"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    table = done.stdout
    for name in ("bare best, torch eager", "bare best, onnx", "stack, sync at concurrency 10", "SQS calls per image"):
        assert float(_figure(table, name)) > 0, name
    assert "workers on onnxruntime-" in table  # the stack ran the backend `auto` picks here
    assert re.search(r"^ +fast paths on +off$", table, re.MULTILINE), table
    for name in ("stack, sync at concurrency 10", "CPU ms per image: web", "  workers", "our CPU / the model's",
                 "SQS calls per image", "one worker's memory"):  # fmt: skip
        on, off = _both(table, name)
        assert on > 0 and off > 0, name
    in_stack = re.search(r"the model's own step took ([0-9.]+)(?: / ([0-9.]+))? ms of CPU in the stack", table)
    assert in_stack and float(in_stack.group(1)) > 0, table  # read back from the stack's metrics
    assert float(in_stack.group(2) or in_stack.group(1)) > 0, table
    earned = re.search(r"^The fast paths together earn (-?[0-9.]+) ms of our CPU per image: ([0-9.]+) ms with "
                       r"FAST_PATHS off, ([0-9.]+) ms with every one on, (-?\d+) % of the off figure",
                       table, re.MULTILINE)  # fmt: skip
    assert earned and float(earned[2]) > 0 and float(earned[3]) > 0, table
    assert float(_figure(table, "  the model's as measured in the stack")) > 0
    # Every answer's label compared, as a share: in the two shapes' table (local, production), then in each shape's.
    agreeing = re.findall(r"^labels as the bare torch model +([0-9.]+) % +([0-9.]+) %", table, re.MULTILINE)
    assert len(agreeing) == 3 and all(float(share) >= 95 for pair in agreeing for share in pair), table
    assert re.search(r"every answer of the burst \(40\)", table), table
    # The shapes side by side, each row saying whose CPU it is.
    assert re.search(r"^ +whose CPU +local +production +target$", table, re.MULTILINE), table
    for name, whose in (("  web tier", "ours"), ("  workers beyond the model", "ours"), ("  endpoint (moto)",
                        "AWS's in production"), ("  callers", "the load generator's")):  # fmt: skip
        row = re.search(rf"^{re.escape(name)} +{re.escape(whose)} +(-?[0-9.]+) +(-?[0-9.]+)", table, re.MULTILINE)
        assert row, f"{name}:\n{table}"
    # The bare model again either side of each shape's run with every fast path on: that shape's yardstick.
    sides = re.search(r"^  measured before/after the stack +the model's +([0-9.]+)/([0-9.]+) +([0-9.]+)/([0-9.]+)$",
                      table, re.MULTILINE)  # fmt: skip
    assert sides and all(float(ms) > 0 for ms in sides.groups()), table
    for name in (
        "our CPU / the model's",
        "uploads/s one web process sustains",
        "worker hosts one web host feeds",
    ):
        row = re.search(rf"^{re.escape(name)} +([0-9.]+) +([0-9.]+)", table, re.MULTILINE)
        assert row and float(row[1]) > 0 and float(row[2]) > 0, f"{name}:\n{table}"
    assert "The production shape (what AWS runs: S3 storage" in table
    assert "production shape: s3 storage, django.db.backends.postgresql" in table
    assert 0 < float(_figure(table, "one worker's memory")) < 4000
    assert float(_figure(table, "cold start, onnx")) > 0
    assert float(_figure(table, "cold start, torch")) > 0
    assert float(_figure(table, "from zero, 10 images")) > 0
    assert float(_figure(table, "results consumer, 50 waiting")) > 0
    assert re.search(r"^fast path +our CPU per image with it off", table, re.MULTILINE), table
    for name in ("kombu_sqs", "botocore_s3"):  # each with the others on, in each shape
        assert len(re.findall(rf"^{name} ", table, re.MULTILINE)) == 2, f"{name}:\n{table}"
        row = re.search(rf"^{name} +([0-9.]+) ms +(-?[0-9.]+) ms \((-?\d+) %\) +([0-9.]+) +([0-9.]+) ms", table,
                        re.MULTILINE)  # fmt: skip
        assert row and float(row[1]) > 0 and float(row[4]) > 0, f"{name}:\n{table}"
    assert not re.search(r"^(django_asgi|moto_server|celery_pool) ", table, re.MULTILINE)  # --each-only's two only
    assert re.search(r"^(Saves less than 5 %|Every fast path measured saves)", table, re.MULTILINE), table
