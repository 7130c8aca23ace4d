"""The metric families the service's processes count, in one place (GET /metrics adds them up: status/metrics.py).

prometheus-client's multiprocess mode: each process writes its values to files in settings.METRICS_DIR, and the
scrape sums every process's files, so the web tier's several processes and the results consumer report as one.
The client chooses that mode when it is imported, from PROMETHEUS_MULTIPROC_DIR: this module sets it first, and
every metric of ours is made here.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from django.conf import settings


def _multiprocess_dir() -> str:
    folder = Path(settings.METRICS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return str(folder)


MULTIPROCESS_DIR = _multiprocess_dir()

from prometheus_client import Counter, Histogram, values  # noqa: E402  (the folder must be set before the import)

# Each process's files are named by host and pid, not pid alone: containers sharing the folder (docker-compose.yml's
# web and results) all run as pid 1. Set here also where another import loaded the client first, in single-process
# mode: ours are made in multiprocess mode anyway.
_HOST = socket.gethostname()
values.ValueClass = values.MultiProcessValue(process_identifier=lambda: f"{_HOST}-{os.getpid()}")

# Seconds, from a fast answer to a synchronous caller's whole wait.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
INFERENCE_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUESTS = Counter(
    "classifier_requests",
    "Requests by what became of them: accepted (by the web tier), then done, failed or expired (as recorded).",
    ["status"],
)
for _status in ("accepted", "done", "failed", "expired"):
    REQUESTS.labels(_status)  # every series from the first scrape, at 0: a rate() needs the start
TURNAROUND = Histogram(
    "classifier_request_duration_seconds", "Accepted to recorded, for requests that finished.", buckets=LATENCY_BUCKETS
)
QUEUE_WAIT = Histogram(
    "classifier_queue_wait_seconds", "Accepted to taken by a worker, for requests done.", buckets=LATENCY_BUCKETS
)
INFERENCE = Histogram("classifier_inference_seconds", "The model's own time per image.", buckets=INFERENCE_BUCKETS)
# What the model cost its worker in CPU (decode, preprocess, forward), beside the forward's wall time above, which
# also counts the time a busy host kept the worker off a core. The benchmark reads the model's own cost from it.
MODEL_CPU = Histogram(
    "classifier_model_cpu_seconds",
    "CPU a worker spent on one image's decode, preprocess and forward.",
    buckets=INFERENCE_BUCKETS,
)
DUPLICATE_RESULTS = Counter(
    "classifier_duplicate_results", "Results that arrived for a request already recorded (redeliveries), ignored."
)
SWEEPER_RESENDS = Counter(
    "classifier_sweeper_resends", "Requests the sweeper sent again: past their deadline, or lost with a queue."
)
