"""`manage.py runstack` (what `make run` runs): the whole service on this machine, until Ctrl-C or a child dies."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from common.env import env_int
from common.loop import LoopCommand
from stack.embedded import HOST
from stack.local import LocalStack, local_worker_cap
from stack.processes import ManagedProcess, bind_error

# How often the supervisor looks at its children.
WATCH_INTERVAL = 0.5
FIXED_WORKER = "worker-"  # stack/local.py names the fixed workers worker-1, worker-2, ...


class Command(LoopCommand):
    help = (
        "Run the whole service on this machine: the embedded SQS/S3 endpoint, the queues, the web tier, the "
        "results consumer and local workers. Ctrl-C stops everything it started."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=env_int("WEB_PORT", 8000), help="web port (8000)")
        parser.add_argument(
            "--workers", type=int, default=env_int("LOCAL_WORKERS", 0, minimum=0),
            help="fixed worker processes; 0 (the default) lets the autoscaler launch and retire them",
        )  # fmt: skip
        parser.add_argument(
            "--max-workers", type=int, default=env_int("LOCAL_MAX_WORKERS", local_worker_cap(), minimum=1),
            help="the autoscaler's cap on local workers (default: cores, at least 3)",
        )  # fmt: skip
        parser.add_argument("--no-autoscale", action="store_true", help="start no autoscaler")
        parser.add_argument(
            "--concurrency", type=int, default=env_int("WORKER_CONCURRENCY", 1, minimum=1),
            help="model processes per worker (keep workers x concurrency x TORCH_THREADS <= cores)",
        )  # fmt: skip
        parser.add_argument(
            "--aws-port", type=int, default=env_int("EMBEDDED_AWS_PORT", 0, minimum=0),
            help="port of the embedded AWS endpoint (default: a free port); ignored when AWS_ENDPOINT_URL is set",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("runstack is the local stack; in production run each tier on its own hosts")
        self.check_ports(options["port"], options["aws_port"] if not settings.AWS_ENDPOINT_URL else 0)
        stack = LocalStack(
            web_port=options["port"],
            workers=options["workers"],
            worker_concurrency=options["concurrency"],
            autoscale=options["workers"] == 0 and not options["no_autoscale"],
            autoscale_max=options["max_workers"],
            autoscale_interval=settings.AUTOSCALE_INTERVAL,
            autoscale_policy=settings.AUTOSCALE_POLICY,
            endpoint_url=settings.AWS_ENDPOINT_URL,
            endpoint_port=options["aws_port"],
        )
        self.stack = stack
        self.exited: ManagedProcess | None = None
        self.catch_stop_signals()  # a Ctrl-C while the stack starts still stops every child it started
        try:
            stack.start()
        except Exception as exc:
            raise CommandError(f"the stack did not start: {exc}") from None
        self.stdout.write(self.style.SUCCESS(f"Ready: {stack.web_url}/  (AWS endpoint {stack.endpoint_url})"))
        self.stdout.write("Press Ctrl-C to stop.")
        try:
            self.run_loop(WATCH_INTERVAL)
        finally:
            self.stdout.write("Stopping…")
            stack.stop()
        if self.exited is not None:
            raise CommandError(
                f"{self.exited.name} exited unexpectedly with code {self.exited.exit_code()}; stopped the rest"
            )
        self.stdout.write("Stopped.")

    def check_ports(self, web_port: int, endpoint_port: int) -> None:
        """Before anything starts: a busy port is one line, not a web tier that dies after the rest came up (or,
        worse, a stack that reports ready because whatever holds the port answers in its place)."""
        wanted = [(web_port, "the web tier", "--port", "WEB_PORT")]
        if endpoint_port:  # 0: the endpoint takes a free port
            wanted.append((endpoint_port, "the embedded AWS endpoint", "--aws-port", "EMBEDDED_AWS_PORT"))
        if web_port == endpoint_port:
            raise CommandError(f"--port and --aws-port are both {web_port}; give them different ports")
        for port, what, flag, variable in wanted:
            if not 0 < port < 65536:
                raise CommandError(f"{flag} {port} is not a TCP port (1 to 65535); set {flag} or {variable}")
            if (reason := bind_error(HOST, port)) is not None:
                held = f"{reason}, perhaps by another runstack" if reason == "already in use" else reason
                raise CommandError(
                    f"port {port} on {HOST} for {what}: {held}; pick another with {flag} or {variable} "
                    f"(e.g. {variable}={port + 1 if port < 65535 else 8001} make run)"
                )

    def tick(self) -> ManagedProcess | None:
        """A child that exited on its own, if any: a fixed worker is started again (a worker exits when its pool is
        wedged, classifier/worker/stranded.py; the autoscaler replaces its own), anything else stops the stack."""
        exited = self.stack.first_exited()
        if exited is not None and exited.name.startswith(FIXED_WORKER):
            self.stderr.write(f"{exited.name} exited with code {exited.exit_code()}; starting it again")
            self.stack.respawn(exited.name)
            return None
        self.exited = exited
        if self.exited is not None:
            self.stopping = True
        return self.exited
