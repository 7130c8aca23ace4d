"""The load the autoscaler's latency policy learns from, read from the recorded requests (the database is the truth).

Named by the AUTOSCALE_DEMAND setting, so the autoscaler reads it without importing the classifier.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from datetime import datetime, timedelta

from classifier.models import Classification, Status

# The service time comes from this many of the latest results: enough to be steady, recent enough to follow a
# change of model or instance type. Kept however old they are: after a quiet night the last results still say what
# an image costs.
RECENT_RESULTS = 50
# A worker that started its next request within this long of finishing one had it waiting: the two starts are one
# whole cycle apart (receive, read, classify, write, report, delete), which is what a message costs a worker.
BACK_TO_BACK = timedelta(milliseconds=250)
# Fewer back-to-back pairs than this (a light load): the requests' own run time, a little less than a cycle.
MIN_CYCLES = 5


def demand_since(since: datetime) -> tuple[int, float | None]:
    """(requests accepted after `since`, one worker's seconds per message from the latest results, or None)."""
    accepted = Classification.objects.filter(created_at__gt=since).count()
    return accepted, seconds_per_message()


def seconds_per_message() -> float | None:
    """The median cycle of workers that went straight from one request to the next; failing enough of those, the
    median run time of a request. A worker runs one request at a time (autoscale/worker_command.py)."""
    latest = (
        Classification.objects.filter(status=Status.DONE, started_at__isnull=False, finished_at__isnull=False)
        .order_by("-recorded_at")
        .values_list("worker", "started_at", "finished_at")[:RECENT_RESULTS]
    )
    by_worker: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    runs = []
    for worker, started, finished in latest:
        by_worker[worker].append((started, finished))
        runs.append((finished - started).total_seconds())
    if not runs:
        return None
    cycles = []
    for requests in by_worker.values():
        requests.sort()
        for (started, finished), (next_started, _) in itertools.pairwise(requests):
            if next_started - finished <= BACK_TO_BACK:
                cycles.append((next_started - started).total_seconds())
    return statistics.median(cycles if len(cycles) >= MIN_CYCLES else runs)
