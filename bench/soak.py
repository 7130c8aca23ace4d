"""Chaos soak: mixed load against the stack as `make run` starts it, while its processes are killed and cut.

    .venv/bin/python bench/soak.py [--minutes 10] [--sync-callers 2] [--sync-pause 1] [--batch 4] [--batch-every 2]

For `--minutes` minutes (and at most `--max-requests` images) synchronous CSE546 callers (`POST /`, field `myfile`,
the label as plain text) loop with a pause between answers while one submitter sends batches of images to
`POST /api/classifications` (202), about 3-5 images/s in all by default. From the stack's first recorded result
on (a kill while the first workers load their model would measure the cold start, not the recovery), on
loopback only:

- at random moments, `--kill-every` seconds apart on average, SIGKILL of a random running worker's celery main
  process (the workers the autoscaler launched, found from their records under VAR_DIR/autoscale/); its pool
  processes must die with it (a survivor at the end is counted, and killed);
- once, a restart of the results consumer;
- once, a database cut of `--cut-seconds`: every child of the stack reaches PostgreSQL through a TCP proxy
  (stack/tcp_proxy.py), which is closed and then restored; the soak itself reads the rows directly;
- once, a restart of the embedded endpoint: moto comes back empty and the queues are provisioned again.

The stack: `LocalStack(autoscale=True, workers=0, ...)` as `manage.py runstack` builds it, with every variable of
.env.example removed from the environment (shipped defaults, nothing tuned), except VAR_DIR (a scratch folder,
whose path is printed: the stack's logs are there) and DATABASE_URL (a fresh PostgreSQL database `soak_<pid>` on
127.0.0.1:5432, created and migrated here, dropped at the end). A stack process that exits on its own would stop
the whole of `make run`; here it is noted, counted and started again, so the rest of the soak still says something.

After the load stops it waits (up to `--drain` seconds) for every accepted request to finish, then prints one
table (what the database and the callers say) and the fault timeline. Every process it started is stopped by
its pid in a `finally`, on Ctrl-C or SIGTERM too.

Exit status: 0 when the promise held; 1 when any of these is non-zero: lost (accepted, never done or failed),
duplicated (a result recorded over an earlier one: a request delivered more than once whose extra
results the results consumer did not log as ignored; a worker SIGKILLed between sending its result and deleting
its message makes SQS deliver that message again, and such a redelivery is at-least-once working, shown on its
own row), 503s outside the database cut (a 503 is the cut's when its call was in
flight at some moment between the cut and the restore), any other 5xx or no answer at all, any 4xx (the
images are valid), synchronous callers past SYNC_WAIT_SECONDS (a 504 or a slower answer), stack processes that
exited on their own, pool processes that outlived their killed worker. Failed requests are listed with their
reasons but do not set the exit status. 2: it could not run (PostgreSQL unreachable, the stack did not start).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_folder  # noqa: E402  (the project is on the path only from here)

IMAGES = Path(os.environ.get("TEST_DATA_DIR", ROOT.parent / "shared" / "data")) / "imagenet-100"
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
WARM_UP_LIMIT = 90.0  # seconds the faults wait at most for the stack's first result

if TYPE_CHECKING:
    from stack.local import LocalStack
    from stack.tcp_proxy import TcpProxy


# --- What happened: the fault timeline and every caller's answer -------------------------------------------------
class Timeline:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.wall_started = time.time()  # to put the rows' timestamps on the timeline
        self.events: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.started

    def add(self, what: str) -> None:
        with self._lock:
            self.events.append((self.now(), what))
        print(f"[{self.now():6.1f} s] {what}", flush=True)  # live, so a long soak shows where it is


@dataclass
class Call:
    kind: str  # "sync" (one image, waits for its label) or "async" (a batch, answered 202)
    started: float  # seconds on the timeline
    ended: float
    status: int  # 0: no answer (connection refused, reset, timed out)
    images: int
    text: str = ""
    ids: list[str] = field(default_factory=list)  # the requests a 202 accepted

    @property
    def seconds(self) -> float:
        return self.ended - self.started


# --- The load ------------------------------------------------------------------------------------------------------
class Load:
    """Sync callers in a loop and one async submitter on a fixed beat, until the deadline or the image budget."""

    def __init__(self, url: str, args: argparse.Namespace, timeline: Timeline, sync_wait: float) -> None:
        self.url, self.args, self.timeline = url, args, timeline
        self.deadline = timeline.now() + args.minutes * 60
        self.sync_timeout = sync_wait + 30  # the server answers 504 at sync_wait: this only catches a hang
        self.images = [(path.name, path.read_bytes()) for path in sorted(IMAGES.glob("*.JPEG"))]
        if not self.images:
            raise SystemExit(f"no *.JPEG images in {IMAGES}")
        self.calls: list[Call] = []
        self.stop = threading.Event()
        self._sent = 0
        self._lock = threading.Lock()
        self._random = random.Random(args.seed)
        self.threads = [threading.Thread(target=self._sync_caller, daemon=True, name=f"sync-{n}")
                        for n in range(args.sync_callers)]  # fmt: skip
        if args.batch:
            self.threads.append(threading.Thread(target=self._async_submitter, daemon=True, name="async"))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        """Stop sending; wait for the calls in flight (each is bounded by its own timeout)."""
        self.stop.set()
        for thread in self.threads:
            thread.join(self.sync_timeout + 5)

    def _take(self, count: int) -> bool:
        with self._lock:
            over = self._sent + count > self.args.max_requests
            if over or self.stop.is_set() or self.timeline.now() >= self.deadline:
                return False
            self._sent += count
            return True

    def _pick(self, count: int) -> list[tuple[str, bytes]]:
        with self._lock:
            return [self._random.choice(self.images) for _ in range(count)]

    def _sync_caller(self) -> None:
        with httpx.Client(timeout=self.sync_timeout) as client:
            while self._take(1):
                ((name, data),) = self._pick(1)
                self._record(client, "sync", "/", [("myfile", (name, data, "image/jpeg"))])
                self.stop.wait(self.args.sync_pause)

    def _async_submitter(self) -> None:
        beat = self.timeline.now()
        with httpx.Client(timeout=60) as client:
            while self._take(self.args.batch):
                files = [("file", (name, data, "image/jpeg")) for name, data in self._pick(self.args.batch)]
                call = self._record(client, "async", "/api/classifications", files)
                if call.status == 202:
                    body = json.loads(call.text)
                    call.ids = [str(item["id"]) for item in body.get("results", [body])]
                call.text = call.text[:300]
                beat += self.args.batch_every  # a fixed beat: a slow answer does not lower the rate afterwards
                self.stop.wait(max(0.0, beat - self.timeline.now()))

    def _record(self, client: httpx.Client, kind: str, path: str, files: list[Any]) -> Call:
        started = self.timeline.now()
        try:
            response = client.post(self.url + path, files=files)
            status, text = response.status_code, response.text
        except httpx.HTTPError as exc:
            status, text = 0, f"{type(exc).__name__}: {exc}"
        call = Call(kind, started, self.timeline.now(), status, len(files), text if kind == "async" else text[:300])
        with self._lock:
            self.calls.append(call)
        return call


# --- The faults ----------------------------------------------------------------------------------------------------
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


# --- The accounting ------------------------------------------------------------------------------------------------
# What `classifier.results.recording` logs when a repeated result changes nothing.
IGNORED_DUPLICATE = re.compile(r"duplicate result for ([0-9a-f-]{36}) ignored")


def ignored_results(consumer_log: Path) -> Counter[str]:
    """How many repeated results the results consumer ignored, by request id (its log is appended across restarts)."""
    if not consumer_log.exists():
        return Counter()
    with consumer_log.open(encoding="utf-8", errors="replace") as log:
        return Counter(match[1] for line in log if (match := IGNORED_DUPLICATE.search(line)))


def account(
    load: Load, chaos: Chaos, sync_wait: float, consumer_log: Path
) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """The table's rows, the problems that set the exit status, and details that help to read them."""
    from classifier.models import Classification, Status
    from common.percentiles import percentiles

    rows = {str(row["id"]): row for row in Classification.objects.values(
        "id", "status", "error", "result_deliveries", "dispatches", "dispatched_at", "worker", "created_at",
        "recorded_at")}  # fmt: skip
    sync = [call for call in load.calls if call.kind == "sync"]
    batches = [call for call in load.calls if call.kind == "async"]
    async_ids = {request_id for call in batches for request_id in call.ids}
    sync_accepted = sum(call.status in (200, 504) for call in sync)
    done = [row for row in rows.values() if row["status"] == Status.DONE]
    failed = Counter(row["error"][:100] for row in rows.values() if row["status"] == Status.FAILED)
    lost = [row for row in rows.values() if row["status"] not in (Status.DONE, Status.FAILED)]
    missing = sorted(async_ids - rows.keys())  # answered 202, yet no row
    redelivered = [row for row in rows.values() if row["result_deliveries"] > 1]
    ignored = ignored_results(consumer_log)
    duplicated = [row for row in redelivered if ignored[str(row["id"])] < row["result_deliveries"] - 1]
    refused = [call for call in load.calls if call.status == 503]
    in_cut = [call for call in refused if chaos.in_cut(call)]
    outside_cut = [call for call in refused if not chaos.in_cut(call)]
    other_5xx = [call for call in load.calls if call.status >= 500 and call.status != 503 and call.kind == "async"]
    other_5xx += [call for call in sync if call.status >= 500 and call.status not in (503, 504)]
    no_answer = [call for call in load.calls if call.status == 0]
    client_errors = [call for call in load.calls if 400 <= call.status < 500]
    past_wait = [call for call in sync if call.status == 504 or call.seconds > sync_wait]
    slowest = max(load.calls, key=lambda call: call.seconds, default=None)
    turnaround = [(row["recorded_at"] - row["created_at"]).total_seconds() for row in done]
    on_timeline = chaos.timeline.wall_started
    outlived = survivors(chaos.orphans)  # seconds after the last kill at the least: each should be long gone

    answers = Counter(f"{call.kind} {call.status}" for call in load.calls)
    table = [
        ("accepted", f"{len(rows)} rows ({sync_accepted} sync answered 200/504, {len(async_ids)} async in "
                     f"{sum(call.status == 202 for call in batches)} batches answered 202)"),
        ("done", f"{len(done)}"),
        ("failed", f"{sum(failed.values())}" + "".join(f"\n    {n} x {reason}" for reason, n in failed.items())),
        ("lost", f"{len(lost) + len(missing)}" + (f" ({len(missing)} answered 202 with no row)" if missing else "")),
        ("duplicated (recorded twice)", f"{len(duplicated)}"),
        ("redelivered, recorded once", f"{len(redelivered) - len(duplicated)} (a worker killed between its result "
                                       "and its delete: SQS delivers at least once)"),
        ("503 while the database was cut", f"{len(in_cut)} ({sum(call.images for call in in_cut)} images refused)"),
        # Rows beyond what 200, 202 and 504 answers account for: kept from a refused upload (a failed COMMIT that went
        # through, or an error after it); each still owes a result like any other.
        ("rows with no accepted answer", f"{len(rows) - len(async_ids & rows.keys()) - sync_accepted}"),
        ("503 outside the cut", f"{len(outside_cut)}"),
        ("other 5xx / no answer", f"{len(other_5xx)} / {len(no_answer)}"),
        ("4xx", f"{len(client_errors)}"),
        (f"sync callers past {sync_wait:g} s", f"{len(past_wait)} (of {len(sync)})"),
        ("slowest caller", f"{slowest.seconds:.1f} s ({slowest.kind}, {slowest.status}, at {slowest.started:.0f} s)"
                           if slowest else "-"),
        ("turnaround (done)", "p50 {:.1f} s, p95 {:.1f} s, max {:.1f} s".format(*percentiles(turnaround, [50, 95, 100]))
                              if turnaround else "-"),
        ("answers", ", ".join(f"{key}: {n}" for key, n in sorted(answers.items()))),
        ("stack processes that exited", ", ".join(chaos.unexpected) or "0"),
        ("pool processes outliving their worker", f"{len(outlived)}"),
    ]  # fmt: skip
    problems = [name for name, count in (
        ("lost", len(lost) + len(missing)), ("duplicated", len(duplicated)), ("503 outside the cut", len(outside_cut)),
        ("other 5xx", len(other_5xx)), ("no answer", len(no_answer)), ("4xx", len(client_errors)),
        ("sync callers past the wait", len(past_wait)), ("stack processes that exited", len(chaos.unexpected)),
        ("pool processes outliving their worker", len(outlived)),
    ) if count]  # fmt: skip
    details = [f"lost {row['id']}: {row['status']}, {row['dispatches']} send(s), last at "
               f"{row['dispatched_at'].timestamp() - on_timeline:.1f} s, worker {row['worker'] or '-'}"
               for row in lost[:10]]  # fmt: skip
    details += [f"answered 202, no row: {request_id}" for request_id in missing[:10]]
    details += [f"duplicated {row['id']}: {row['result_deliveries']} results, {ignored[str(row['id'])]} ignored"
                for row in duplicated[:10]]  # fmt: skip
    details += [f"redelivered {row['id']}: {row['result_deliveries']} results, the first recorded ({row['worker']})"
                for row in redelivered[:10] if row not in duplicated]  # fmt: skip
    slow = sorted(done, key=lambda row: row["recorded_at"] - row["created_at"], reverse=True)[:3]
    details += [f"slow {row['id']}: accepted at {row['created_at'].timestamp() - on_timeline:.1f} s, recorded at "
                f"{row['recorded_at'].timestamp() - on_timeline:.1f} s, {row['dispatches']} send(s), last at "
                f"{row['dispatched_at'].timestamp() - on_timeline:.1f} s, worker {row['worker']}"
                for row in slow]  # fmt: skip
    odd = past_wait + outside_cut + other_5xx + no_answer + client_errors
    details += [f"{call.kind} {call.status} at {call.started:.1f}-{call.ended:.1f} s: {call.text[:160]!r}"
                for call in sorted(odd, key=lambda call: call.started)[:20]]  # fmt: skip
    return table, problems, details


def keep_watch(chaos: Chaos, done: Callable[[], bool], seconds: float) -> bool:
    """Make the faults that are due and watch the stack's processes until `done()` or the time is up."""
    deadline = time.monotonic() + seconds
    while not (finished := done()) and time.monotonic() < deadline:
        chaos.step()
        time.sleep(0.5)
    return finished


# --- Setup and teardown ------------------------------------------------------------------------------------------
def shipped_defaults() -> None:
    """Remove every setting .env.example names from this process's environment (the stack's children inherit it):
    a `make test` pass with STORAGE_BACKEND=s3, or a tuned shell, must not tune the soak's stack."""
    names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    for name in names:
        os.environ.pop(name, None)


def postgres_url(database: str, port: int) -> str:
    return f"postgres://{POSTGRES['user']}@{POSTGRES['host']}:{port}/{database}"


def postgres(sql: str) -> None:
    import psycopg

    with psycopg.connect(**POSTGRES, dbname="postgres", autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql)  # type: ignore[arg-type]  # our own names only


def stop_orphans(processes: set[tuple[int, int | None]]) -> list[int]:
    """SIGKILL the killed workers' pool processes that are still alive; returns their pids."""
    alive = survivors(processes)
    for pid in alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return alive


def soak(args: argparse.Namespace, scratch: Path, database: str) -> int:
    import django

    django.setup()
    logging.getLogger().setLevel(logging.WARNING)  # this process's own INFO lines are noise beside the timeline
    from django.conf import settings
    from django.core.management import call_command

    from classifier.models import Classification, Status
    from stack.local import LocalStack, local_worker_cap
    from stack.processes import free_port
    from stack.tcp_proxy import TcpProxy

    call_command("migrate", verbosity=0)
    proxy = TcpProxy((POSTGRES["host"], POSTGRES["port"])).start()
    # As runstack builds it; only the web port is a free one, so that a `make run` beside it is left alone.
    stack = LocalStack(web_port=free_port(), workers=0, autoscale=True, autoscale_max=local_worker_cap(),
                       autoscale_interval=settings.AUTOSCALE_INTERVAL, autoscale_policy=settings.AUTOSCALE_POLICY,
                       log_dir=scratch / "logs",
                       extra_env={"DATABASE_URL": postgres_url(database, proxy.port)})  # fmt: skip
    timeline = Timeline()
    chaos = Chaos(stack, proxy, args, timeline)
    load: Load | None = None
    try:
        try:
            stack.start()
        except Exception as exc:
            print(f"the stack did not start: {exc}", file=sys.stderr)
            return 2
        timeline.add(f"stack ready at {stack.web_url} (database through proxy port {proxy.port})")
        load = Load(stack.web_url, args, timeline, settings.SYNC_WAIT_SECONDS)
        load.start()
        # Faults begin once a result is in: a kill while the first workers still load their model would measure
        # the cold start (which the slowest caller shows anyway), not the recovery.
        keep_watch(chaos, Classification.objects.filter(status=Status.DONE).exists, WARM_UP_LIMIT)
        timeline.add("first result recorded: faults begin")
        chaos.start(load.deadline - timeline.now())
        keep_watch(chaos, lambda: not any(thread.is_alive() for thread in load.threads), load.deadline - timeline.now())
        chaos.finish()
        timeline.add("load stopped; waiting for the calls in flight")
        load.join()
        drain_started = timeline.now()
        keep_watch(chaos, lambda: not Classification.objects.pending().exists(), args.drain)
        timeline.add(f"drain: {Classification.objects.pending().count()} request(s) pending after "
                     f"{timeline.now() - drain_started:.0f} s (limit {args.drain:g} s)")  # fmt: skip
        consumer_log = scratch / "logs" / "results-consumer.log"
        table, problems, details = account(load, chaos, settings.SYNC_WAIT_SECONDS, consumer_log)
        header = f"{args.minutes:g} min of load, {len(load.calls)} calls, {sum(c.images for c in load.calls)} images"
    finally:
        if load is not None:
            load.stop.set()  # a Ctrl-C or an error mid-soak: no new calls while the stack stops
        chaos.finish()  # the stack stops with its database reachable
        stack.stop()
        proxy.stop()
        if chaos.orphans:
            alive = stop_orphans(chaos.orphans)
            timeline.add(f"stack stopped; pool processes that outlived their worker, killed: {alive or 'none'}")
        from django.db import connections

        connections.close_all()
    width = max(len(name) for name, _ in table)
    print(f"\n--- soak: {header}")
    print("\n".join(f"{name:<{width}}  {value}" for name, value in table))
    print("--- fault timeline (seconds since the stack was started)")
    print("\n".join(f"{at:7.1f}  {what}" for at, what in timeline.events))
    if details:
        print("--- details")
        print("\n".join(details))
    print(f"--- logs: {scratch / 'logs'} (workers: {scratch / 'autoscale'})")
    if problems:
        print(f"FAILED: {', '.join(problems)}")
        return 1
    print("OK: nothing lost, duplicated or refused outside the cut, no caller past the wait")
    return 0


def interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of load (10)")
    parser.add_argument("--max-requests", type=int, default=5000, help="images sent at most (5000)")
    parser.add_argument("--sync-callers", type=int, default=2, help="synchronous callers, each in a loop (2)")
    parser.add_argument("--sync-pause", type=float, default=1.0, help="seconds a caller pauses between calls (1)")
    parser.add_argument("--batch", type=int, default=4, help="images per async submission (4; 0: none)")
    parser.add_argument("--batch-every", type=float, default=2.0, help="seconds between submissions (2)")
    parser.add_argument("--kill-every", type=float, default=30.0, help="mean seconds between worker kills (30)")
    parser.add_argument("--cut-seconds", type=float, default=10.0, help="how long the database is cut (10)")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait for what is pending (120)")
    parser.add_argument("--seed", type=int, default=None, help="seed for the images and the victims")
    args = parser.parse_args()

    scratch = scratch_folder("soak-")
    print(f"scratch folder (stack logs under logs/, workers' under autoscale/): {scratch}", flush=True)
    database = f"soak_{os.getpid()}"
    shipped_defaults()
    direct = postgres_url(database, POSTGRES["port"])  # this process reads the rows without the proxy
    os.environ.update(DJANGO_SETTINGS_MODULE="project.settings", VAR_DIR=str(scratch), DATABASE_URL=direct)
    try:
        postgres(f'CREATE DATABASE "{database}"')
    except Exception as exc:
        print(f"PostgreSQL at {POSTGRES['host']}:{POSTGRES['port']} is unreachable: {exc}", file=sys.stderr)
        sys.exit(2)
    # SIGTERM (a test's timeout, a CI runner) unwinds like Ctrl-C: the finally blocks stop everything.
    signal.signal(signal.SIGTERM, interrupt)
    try:
        code = soak(args, scratch, database)
    except KeyboardInterrupt:
        print(f"interrupted: every process it started is stopped; logs in {scratch}", file=sys.stderr)
        code = 130
    finally:
        postgres(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    sys.exit(code)


if __name__ == "__main__":
    main()
