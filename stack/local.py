"""The whole service on one machine: endpoint, queues, web tier, results consumer and app-tier workers.

`manage.py runstack` (and so `make run`) and the integration tests start the stack through this one class.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from autoscale.providers.local import LocalProvider
from autoscale.worker_command import WORKER_ENV, worker_argv
from common import aws
from deploy.provision import QueuePlan, ensure_buckets, ensure_queues
from stack.embedded import HOST, LOCAL_CREDENTIALS, start_endpoint
from stack.processes import PYTHON, ManagedProcess, stop_together, wait_for_port

logger = logging.getLogger(__name__)


def web_argv(port: int) -> list[str]:
    return [PYTHON, "-m", "uvicorn", "project.asgi:application", "--host", HOST, "--port", str(port),
            "--no-access-log", "--timeout-graceful-shutdown", "10"]  # fmt: skip


def results_consumer_argv(python: str = PYTHON) -> list[str]:
    # One process, one writer: SQLite stays free of lock contention, and batches make one writer enough.
    return [python, "manage.py", "consume_results"]


def autoscaler_argv(maximum: int, interval: float, policy: str) -> list[str]:
    return [PYTHON, "manage.py", "autoscale", "--provider", "local", "--policy", policy,
            "--min", "0", "--max", str(maximum), "--interval", str(interval)]  # fmt: skip


def local_worker_cap() -> int:
    """What this machine holds: one single-threaded model process per core, and at least three."""
    return max(3, os.cpu_count() or 1)


@dataclass
class LocalStack:
    web_port: int = 8000
    workers: int = 1  # fixed workers; with autoscale, the autoscaler launches them instead
    worker_concurrency: int = 1
    autoscale: bool = False
    autoscale_max: int = field(default_factory=local_worker_cap)
    autoscale_interval: float = 5.0
    autoscale_policy: str = "step"
    endpoint_url: str = ""  # empty: start the embedded endpoint
    endpoint_port: int = 0
    log_dir: Path | None = None  # None: children write to this terminal
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def web_url(self) -> str:
        return f"http://{HOST}:{self.web_port}"

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        if not self.endpoint_url:
            # The endpoint logs every API call: keep that out of the terminal even when the rest writes there.
            endpoint_log = self._log("aws-endpoint") or settings.VAR_DIR / "log" / "aws-endpoint.log"
            endpoint, self.endpoint_url = start_endpoint(self.endpoint_port, endpoint_log)
            self.processes.append(endpoint)
        env = self.child_env()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)
        self._provision(env)
        self.spawn("results-consumer", results_consumer_argv(), env)
        self.spawn("sweeper", [PYTHON, "manage.py", "sweep"], env)
        for index in range(1, self.workers + 1):
            name = f"worker-{index}"
            argv = worker_argv(name, queue=settings.CLASSIFY_QUEUE, concurrency=self.worker_concurrency)
            self.spawn(name, argv, {**env, **WORKER_ENV, "CLASSIFIER_PRELOAD": "true"})
        if self.autoscale:
            argv = autoscaler_argv(self.autoscale_max, self.autoscale_interval, self.autoscale_policy)
            self.spawn("autoscaler", argv, env)
        web = self.spawn("web", web_argv(self.web_port), env)
        wait_for_port(HOST, self.web_port, timeout=60, process=web)

    @property
    def metrics_dir(self) -> Path:
        """The stack's processes' metric files (common/metrics.py): one folder per stack, emptied when it starts, so
        two stacks on one machine (a test's beside `make run`) never add up each other's counts."""
        return settings.VAR_DIR / "metrics" / f"stack-{self.web_port}"

    def child_env(self) -> dict[str, str]:
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": settings.AWS_REGION,
            "VAR_DIR": str(settings.VAR_DIR),
            "STORAGE_BACKEND": settings.STORAGE_BACKEND,
            "FAST_PATHS": ",".join(sorted(settings.FAST_PATHS)) or "off",
            "METRICS_DIR": str(self.metrics_dir),
        }
        for name, value in LOCAL_CREDENTIALS.items():
            env[name] = os.environ.get(name, value)
        return {**env, **self.extra_env}

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> ManagedProcess:
        """Start one more process of the stack (stopped with the rest)."""
        process = ManagedProcess(name, argv, env, self._log(name), cwd=settings.BASE_DIR).start()
        self.processes.append(process)
        return process

    def _log(self, name: str) -> Path | None:
        return self.log_dir / f"{name}.log" if self.log_dir else None

    def process(self, name: str) -> ManagedProcess:
        return next(process for process in self.processes if process.name == name)

    def respawn(self, name: str) -> ManagedProcess:
        """Start a process again with the same command and environment (after it was stopped or killed)."""
        old = self.process(name)
        old.stop(timeout=5)
        fresh = ManagedProcess(name, old.argv, old.env, self._log(name), cwd=settings.BASE_DIR).start()
        self.processes[self.processes.index(old)] = fresh
        return fresh

    def restart_endpoint(self) -> None:
        """Restart the embedded endpoint on the same port: it comes back empty, as after a crash; re-provision."""
        endpoint = self.respawn("aws-endpoint")
        port = int(self.endpoint_url.rsplit(":", 1)[1])
        wait_for_port(HOST, port, timeout=30, process=endpoint)
        self._provision(self.child_env())

    def _provision(self, env: dict[str, str]) -> None:
        ensure_queues(aws.client("sqs", self.endpoint_url, env), QueuePlan.from_settings())
        if settings.STORAGE_BACKEND == "s3":
            buckets = [settings.S3_INPUT_BUCKET, settings.S3_OUTPUT_BUCKET]
            ensure_buckets(aws.client("s3", self.endpoint_url, env), buckets, settings.AWS_REGION)

    def first_exited(self) -> ManagedProcess | None:
        return next((process for process in self.processes if process.exit_code() is not None), None)

    def stop(self) -> None:
        """Web first (no new work), the autoscaler and every worker it launched, then the fixed workers, the sweeper
        and the consumer together (the queues keep whatever they leave), the endpoint last."""
        first = [process for process in self.processes if process.name in ("web", "autoscaler")]
        last = [process for process in self.processes if process.name == "aws-endpoint"]
        for process in reversed(first):
            process.stop()
            if process.name == "autoscaler":
                self.local_provider().stop_all()
        stop_together([process for process in reversed(self.processes) if process not in first + last])
        for process in last:
            process.stop()
        self.processes.clear()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)

    def local_provider(self) -> LocalProvider:
        return LocalProvider.from_settings()
