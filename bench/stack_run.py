"""The stack as `make run` builds it (fixed workers of one process each, the embedded endpoint on the same cores), in
the shape this process was started in (bench/shapes.py: its storage and database), under a warm burst of synchronous
requests, with a chosen set of fast paths on.

The set is the bench process's `settings.FAST_PATHS` while the stack starts: the stack hands it to every child as
FAST_PATHS, and picks moto's own server where `moto_server` is not in it. So every column, and every fast path's
own run, is the same stack and the same requests, with only the libraries' paths changed.

During the burst it reads each role's CPU from /proc, counts the SQS calls the endpoint answered, and keeps every
label; then, optionally, one request at a time (the latency the stack adds), and one worker's memory.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench import measure
from bench.callers import SyncCaller
from bench.scratch import stack_folder

if TYPE_CHECKING:
    from stack.local import LocalStack

ROLES = ("web", "results-consumer", "workers", "aws-endpoint", "sweeper")


@dataclass(frozen=True)
class StackRun:
    fast_paths: frozenset[str]
    images_per_second: float
    cpu_ms_per_image: dict[str, float]
    sqs_calls_per_image: float
    labels: list[tuple[str, str]]  # every answer of the burst: (file name, label answered)
    sequential_seconds: list[float]  # empty where the run skipped the one-at-a-time requests
    callers_cpu_ms_per_image: float  # the load generator's own, on the same cores
    worker_rss_mib: float
    worker_pss_mib: float
    backend: str
    model_cpu_ms_in_stack: float  # the workers' own measure of decode, preprocess and forward, during the burst

    def agreeing_percent(self, expected: dict[str, str]) -> float:
        """The share of the burst's answers whose label is `expected`'s for their image (file name -> label)."""
        return sum(label == expected[name] for name, label in self.labels) * 100 / len(self.labels)

    def ours_ms(self, model_ms: float) -> float:
        """Our CPU per image: the web tier, the results consumer, the sweeper and the workers beyond the model's own
        cost alone (`model_ms`); the endpoint is AWS's in production, the callers are the load generator."""
        cpu = self.cpu_ms_per_image
        return cpu["web"] + cpu["results-consumer"] + cpu["sweeper"] + cpu["workers"] - model_ms


def role_pids(stack: LocalStack) -> dict[str, list[int]]:
    roles: dict[str, list[int]] = {role: [] for role in ROLES}
    for process in stack.processes:
        role = "workers" if process.name.startswith("worker-") else process.name
        if role in roles and process.pid:
            roles[role] += measure.tree(process.pid)
    return roles


def role_cpu(stack: LocalStack) -> dict[str, float]:
    return {role: measure.cpu_seconds(pids) for role, pids in role_pids(stack).items()}


def run_stack(
    fast_paths: frozenset[str],
    *,
    processes: int,
    concurrency: int,
    requests: int,
    backend: str,
    paths: list[Path],
    latency: bool = True,
) -> StackRun:
    """One stack, started and stopped within `fast_paths`: warmed, then `requests` at `concurrency`, then (with
    `latency`) each image once more one at a time."""
    from django.test import override_settings

    with override_settings(FAST_PATHS=fast_paths):
        from django.core.management import call_command

        from stack.local import LocalStack
        from stack.processes import free_port

        call_command("migrate", verbosity=0)
        log_dir = stack_folder()  # its own endpoint log: the SQS calls counted are this stack's only
        stack = LocalStack(
            web_port=free_port(),
            workers=processes,
            log_dir=log_dir,
            extra_env={"CLASSIFIER_BACKEND": backend},
        )
        stack.start()
        caller = SyncCaller(stack.web_url, concurrency, paths)
        send = caller.send

        try:
            warm = [path.name for path in paths[: processes * 4]]
            for _ in range(2):  # connections, and every worker's first requests (its model is loaded at start)
                with ThreadPoolExecutor(max_workers=processes * 2) as pool:
                    list(pool.map(send, warm))
            time.sleep(1)
            names = [paths[i % len(paths)].name for i in range(requests)]
            endpoint_log = log_dir / "aws-endpoint.log"
            calls_before, cpu_before = measure.sqs_calls(endpoint_log), role_cpu(stack)
            model_before = measure.histogram_totals(stack.metrics_dir, "classifier_model_cpu_seconds")
            callers_before = time.process_time()  # this process: the callers' threads
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                answers = list(pool.map(send, names))
            wall = time.perf_counter() - started
            cpu_after, calls_after = role_cpu(stack), measure.sqs_calls(endpoint_log)
            model_after = measure.histogram_totals(stack.metrics_dir, "classifier_model_cpu_seconds")
            callers_ms = (time.process_time() - callers_before) * 1000 / len(names)
            sequential = [send(path.name)[2] for path in paths] if latency else []
            memory = [measure.memory_mib(measure.tree(p.pid)) for p in stack.processes if p.name.startswith("worker-")]
            worker_backend = _worker_backend()
        finally:
            caller.close()
            stack.stop()
        cpu = {role: (cpu_after[role] - cpu_before[role]) * 1000 / len(names) for role in ROLES}
        labels = [(name, label) for name, label, _ in answers]
        rss, pss = max(memory, key=lambda pair: pair[1])
        return StackRun(
            fast_paths,
            len(names) / wall,
            cpu,
            (calls_after - calls_before) / len(names),
            labels,
            sequential,
            callers_ms,
            rss,
            pss,
            worker_backend,
            (model_after[1] - model_before[1]) * 1000 / max(1.0, model_after[0] - model_before[0]),
        )


def _worker_backend() -> str:
    """The backend the workers loaded, from the model version their results carry (read back from the database)."""
    from classifier.models import Classification

    version = Classification.objects.exclude(model_version="").values_list("model_version", flat=True).first() or ""
    return version.rsplit(" ", 1)[-1] if " " in version else "unknown"
