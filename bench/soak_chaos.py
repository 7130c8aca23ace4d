"""The soak's faults: worker kills at memoryless moments, a results consumer restart, a database cut through the
proxy and an endpoint restart, each on the one timeline; and what the faults leave behind (a killed worker's pool
processes), read from /proc so that a survivor is seen and stopped by its pid and start time, never by name."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bench.soak_load import Call, Timeline

if TYPE_CHECKING:
    from stack.local import LocalStack
    from stack.tcp_proxy import TcpProxy


def children_of(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(stat.parent.name))
    return found


def start_ticks(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot): with the pid, one process for the life of the machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def survivors(processes: set[tuple[int, int | None]]) -> list[int]:
    """The ones still running (a zombie is not running; a reused pid has another start time)."""
    return sorted(pid for pid, started in processes if started is not None and start_ticks(pid) == started)


def cmdline_has(pid: int, needle: str) -> bool:
    try:
        return needle.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()  # a zombie's is empty
    except OSError:
        return False


def running_workers(state_dir: Path) -> list[tuple[str, int]]:
    """(instance id, main pid) of the autoscaler's workers that are consuming, from their records."""
    found = []
    for path in sorted(state_dir.glob("local-*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # forgotten or half-written meanwhile
        instance, pid = record["id"], record["pid"]
        if (state_dir / f"{instance}.ready").exists() and cmdline_has(pid, f"{instance}@"):
            found.append((instance, pid))
    return found


class Chaos:
    """The faults on one schedule, made one at a time by the main thread between its looks at the stack: children
    are started from the main thread only (common/lifetime.py binds a child to the thread that forked it)."""

    def __init__(self, stack: LocalStack, proxy: TcpProxy, args: argparse.Namespace, timeline: Timeline) -> None:
        self.stack, self.proxy, self.args, self.timeline = stack, proxy, args, timeline
        self.plan: list[tuple[float, Callable[[], None]]] = []
        self.orphans: set[tuple[int, int | None]] = set()  # (pid, start time) of killed workers' pool processes
        self.cuts: list[list[float]] = []  # [cut at, restored at] on the timeline
        self.unexpected: list[str] = []
        self._random = random.Random(args.seed)

    def schedule(self, start: float, seconds: float) -> list[tuple[float, Callable[[], None]]]:
        """Kills at random moments, `kill_every` seconds apart on average; the one-off faults at fixed fractions of
        the time, the endpoint last so that the sweeper's recovery from it still falls within the load.

        Memoryless, as crashes are: a beat of 30 +- 5 s would keep step with a 30 s visibility timeout. A worker
        killed while its long poll is open takes with it the message the endpoint hands that poll next (SQS, and
        moto, answer a poll whose caller is gone), hidden for one visibility timeout. With the 30 s timeout shipped
        before, a message that came back just as the next kill left another dead poll waited two timeouts and a
        worker's start, and its synchronous caller, past the 60 s wait, got 504; the shipped 10 s leaves room for
        that twice over."""
        plan: list[tuple[float, Callable[[], None]]] = []
        mean = self.args.kill_every

        def gap() -> float:  # exponential, kept between a third and three times the mean
            return min(max(self._random.expovariate(1 / mean), mean / 3), 3 * mean)

        at = start + gap()
        while at < start + seconds - 5:
            plan.append((at, self.kill_a_worker))
            at += gap()
        plan.append((start + 0.3 * seconds, self.restart_consumer))
        plan.append((start + 0.5 * seconds, self.cut_database))
        plan.append((start + 0.5 * seconds + self.args.cut_seconds, self.restore_database))
        plan.append((start + 0.7 * seconds, self.restart_endpoint))
        return sorted(plan, key=lambda item: item[0])

    def start(self, seconds: float) -> None:
        self.plan = self.schedule(self.timeline.now(), seconds)

    def step(self) -> None:
        """Make the faults whose time has come, then look at the stack's processes."""
        while self.plan and self.plan[0][0] <= self.timeline.now():
            _, action = self.plan.pop(0)
            try:
                action()
            except Exception as exc:  # a fault that could not be made is part of the story, not the end of it
                self.timeline.add(f"fault {action.__name__} failed: {type(exc).__name__}: {exc}")
        self.watch()

    def kill_a_worker(self) -> None:
        workers = running_workers(self.stack.local_provider().state_dir)
        if not workers:
            self.timeline.add("SIGKILL: no worker running to kill")
            return
        instance, pid = self._random.choice(workers)
        children = children_of(pid)
        os.kill(pid, signal.SIGKILL)
        self.orphans |= {(child, start_ticks(child)) for child in children}
        self.timeline.add(f"SIGKILL {instance} main process (pid {pid}; pool process {sorted(children)})")

    def restart_consumer(self) -> None:
        old = self.stack.process("results-consumer").pid
        fresh = self.stack.respawn("results-consumer").pid
        self.timeline.add(f"results consumer restarted (SIGTERM pid {old}, started pid {fresh})")

    def cut_database(self) -> None:
        self.proxy.cut()
        self.cuts.append([self.timeline.now(), float("inf")])
        self.timeline.add(f"database cut (proxy port {self.proxy.port} closed, its connections reset)")

    def restore_database(self) -> None:
        if self.cuts and self.cuts[-1][1] == float("inf"):
            self.proxy.restore()
            self.cuts[-1][1] = self.timeline.now()
            self.timeline.add("database restored (proxy listening again)")

    def restart_endpoint(self) -> None:
        started = time.monotonic()
        self.stack.restart_endpoint()
        self.timeline.add(f"embedded endpoint restarted empty, queues provisioned ({time.monotonic() - started:.1f} s)")

    def watch(self) -> None:
        """What `runstack` does each half second, but a child that exits is counted and started again."""
        exited = self.stack.first_exited()
        if exited is None:
            return
        self.unexpected.append(f"{exited.name} (code {exited.exit_code()}) at {self.timeline.now():.0f} s")
        self.timeline.add(f"{exited.name} exited on its own (code {exited.exit_code()}): make run would stop here; "
                          "started again")  # fmt: skip
        if exited.name == "aws-endpoint":
            self.stack.restart_endpoint()
        else:
            self.stack.respawn(exited.name)

    def in_cut(self, call: Call) -> bool:
        return any(call.started <= restored and call.ended >= cut for cut, restored in self.cuts)

    def finish(self) -> None:
        self.plan.clear()
        self.restore_database()  # a soak stopped mid-cut leaves no database behind a closed proxy


def stop_orphans(processes: set[tuple[int, int | None]]) -> list[int]:
    """SIGKILL the killed workers' pool processes that are still alive; returns their pids."""
    alive = survivors(processes)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return alive
