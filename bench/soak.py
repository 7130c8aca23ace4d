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

By job: the load and its record in bench/soak_load.py, the faults in bench/soak_chaos.py, the verdict in
bench/soak_accounting.py; here, the command line, the set-up and the order of it all.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_folder  # noqa: E402  (the project is on the path only from here)
from bench.soak_accounting import account  # noqa: E402
from bench.soak_chaos import Chaos, stop_orphans  # noqa: E402
from bench.soak_load import Load, Timeline  # noqa: E402

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
WARM_UP_LIMIT = 90.0  # seconds the faults wait at most for the stack's first result


# --- The order of it all ---------------------------------------------------------------------------------------
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
