"""What the benchmark reads off the machine and its running processes: the CPU model, and the CPU time and memory of
a process and its children, from /proc."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The embedded endpoint's access log: one line per API call; SQS's JSON protocol always posts to "/" (an error
# status is coloured, so escape codes may come first).
SQS_CALL = re.compile(r'"(?:\x1b\[[0-9;]*m)*POST / HTTP')


def cpu_model() -> str:
    """The processor's name as the kernel reports it: runs on different machines compare only as ratios, and not
    even those where the model's native code and our Python gain unequally from a faster processor."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown processor"


def tree(pid: int) -> list[int]:
    """The process and all its descendants that are alive now."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (a process gone meanwhile counts nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


def memory_mib(pids: list[int]) -> tuple[float, float]:
    """(RSS summed, PSS summed) in MiB. PSS shares each page among the processes that map it, so a prefork pool's
    copy-on-write pages count once; RSS counts them in every process."""
    rss = pss = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        values = dict(re.findall(r"^(\w+):\s+(\d+) kB", rollup, re.MULTILINE))
        rss += int(values.get("Rss", 0))
        pss += int(values.get("Pss", 0))
    return rss / 1024, pss / 1024


def sqs_calls(endpoint_log: Path) -> int:
    """SQS API calls the embedded endpoint has answered so far."""
    with endpoint_log.open(encoding="utf-8", errors="replace") as log:
        return sum(1 for line in log if SQS_CALL.search(line))


def histogram_totals(metrics_dir: Path, name: str) -> tuple[float, float]:
    """(count, sum) of a histogram the stack's processes write to their metrics folder (prometheus-client's
    multiprocess files), all processes together."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    samples = {sample.name: sample.value for family in registry.collect() for sample in family.samples}
    return samples.get(f"{name}_count", 0.0), samples.get(f"{name}_sum", 0.0)
