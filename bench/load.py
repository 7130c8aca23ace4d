"""Load run: 1,000 async API requests at concurrency 50 plus 100 synchronous CSE546-style requests, against the
stack as `make run` starts it (local workers under the autoscaler), in one run.

    .venv/bin/python bench/load.py [--requests 1000] [--concurrency 50] [--sync 100]

Prints the load generator's tables, then what the database says: done, failed, lost, duplicated results. The
queues are moto's embedded server (stack/endpoint.py), on the same cores as everything else: the throughput here
is a floor, the zero counts are ours.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import scratch_folder  # noqa: E402  (the project is on the path only from here)

IMAGES = Path(os.environ.get("TEST_DATA_DIR", ROOT.parent / "shared" / "data")) / "imagenet-100"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--sync", type=int, default=100, help="synchronous CSE546-style requests alongside")
    args = parser.parse_args()

    scratch = scratch_folder("load-")
    os.environ.update(DJANGO_SETTINGS_MODULE="project.settings", VAR_DIR=str(scratch),
                      DATABASE_URL=f"sqlite:///{scratch / 'load.sqlite3'}", SYNC_WAIT_SECONDS="600")  # fmt: skip
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from classifier.models import Classification, Status
    from stack.loadgen import LoadReport, run
    from stack.local import LocalStack, local_worker_cap
    from stack.processes import free_port

    call_command("migrate", verbosity=0)
    stack = LocalStack(web_port=free_port(), workers=0, autoscale=True, autoscale_max=local_worker_cap(),
                       autoscale_interval=5.0, log_dir=scratch)  # fmt: skip
    stack.start()
    images = sorted(IMAGES.glob("*.JPEG"))
    reports: dict[str, LoadReport] = {}
    try:
        sync = threading.Thread(target=lambda: reports.__setitem__(
            "sync", run(stack.web_url, images, args.sync, min(args.sync, 100), "myfile", timeout=900)))  # fmt: skip
        sync.start()
        reports["api"] = run(stack.web_url, images, args.requests, args.concurrency, "api", timeout=900)
        sync.join()
    finally:
        stack.stop()

    for name, report in reports.items():
        print(f"--- {name}: {len(report.outcomes)} requests")
        print(report.table())
    rows = Classification.objects.all()
    total = args.requests + args.sync
    done = rows.filter(status=Status.DONE).count()
    failed = rows.filter(status=Status.FAILED).count()
    lost, duplicated = total - done - failed, rows.filter(result_deliveries__gt=1).count()
    server_errors = sum(r.server_errors for r in reports.values())
    print("--- database")
    print(f"accepted {rows.count()} of {total}; done {done}; failed {failed}; lost {lost}; "
          f"duplicated results {duplicated}; 5xx answers {server_errors}")  # fmt: skip
    print(f"logs: {scratch}")
    if lost or duplicated or server_errors or rows.count() != total:
        sys.exit("the promise is broken: something accepted was lost, answered twice, or refused with a 5xx")


if __name__ == "__main__":
    main()
