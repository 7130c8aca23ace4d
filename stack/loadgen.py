"""A load generator in the manner of the CSE546 workload generators: many threads, each waiting for its answer."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common.percentiles import percentiles

PROTOCOLS = ("myfile", "inputFile", "api")


@dataclass
class Outcome:
    image: str
    status: int  # HTTP status of the answer (0: no answer)
    label: str
    seconds: float
    error: str = ""


@dataclass
class LoadReport:
    outcomes: list[Outcome] = field(default_factory=list)
    wall_seconds: float = 0.0
    expected: dict[str, str] = field(default_factory=dict)

    @property
    def successes(self) -> int:
        return sum(1 for o in self.outcomes if o.status == 200 and not o.error)

    @property
    def http_errors(self) -> int:
        return sum(1 for o in self.outcomes if o.status != 200 or o.error)

    @property
    def server_errors(self) -> int:
        return sum(1 for o in self.outcomes if o.status >= 500 or o.status == 0)

    @property
    def wrong_labels(self) -> int:
        return sum(
            1 for o in self.outcomes
            if o.status == 200 and o.image in self.expected and o.label != self.expected[o.image]
        )  # fmt: skip

    def latencies(self) -> list[str]:
        """p50, p95, p99 and max of the answers' latency, in milliseconds, for the table."""
        if not self.outcomes:
            return ["-"] * 4
        figures = percentiles([o.seconds for o in self.outcomes], [50, 95, 99, 100])
        return [f"{seconds * 1000:.0f} ms" for seconds in figures]

    def table(self) -> str:
        rows = [
            ("requests", f"{len(self.outcomes)}"),
            ("successes", f"{self.successes}"),
            ("wrong labels", f"{self.wrong_labels}" if self.expected else "(no --expected)"),
            ("HTTP errors", f"{self.http_errors}"),
            ("throughput", f"{len(self.outcomes) / self.wall_seconds:.1f} requests/s" if self.wall_seconds else "-"),
            *zip(("latency p50", "latency p95", "latency p99", "latency max"), self.latencies(), strict=True),
            ("total time", f"{self.wall_seconds:.1f} s"),
        ]  # fmt: skip
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

    @property
    def ok(self) -> bool:
        return self.http_errors == 0 and self.wrong_labels == 0


def read_expected(path: Path) -> dict[str, str]:
    """`name,label` rows (with or without a header); names are matched with and without their extension."""
    expected: dict[str, str] = {}
    with path.open(newline="") as handle:
        for row in csv.reader(handle):
            if len(row) >= 2 and row[0] not in ("file", "Image", "image"):
                expected[row[0]] = row[1]
                expected[Path(row[0]).stem] = row[1]
    return expected


def send_one(client: httpx.Client, url: str, protocol: str, path: Path, timeout: float) -> Outcome:
    """One image, sent and waited for. Every failure becomes an Outcome with its reason, never an exception: one
    odd answer must not stop the run before its table is printed."""
    started = time.perf_counter()

    def failed(status: int, error: str) -> Outcome:
        return Outcome(path.name, status, "", time.perf_counter() - started, error)

    field_name = {"myfile": "myfile", "inputFile": "inputFile", "api": "file"}[protocol]
    target = url.rstrip("/") + ("/api/classifications" if protocol == "api" else "/")
    try:
        response = client.post(target, files={field_name: (path.name, path.read_bytes(), "image/jpeg")})
        if protocol != "api":
            if response.status_code != 200:
                return failed(response.status_code, response.text.strip()[:200])
            label = (
                response.text.split(":", 1)[1] if protocol == "inputFile" and ":" in response.text else response.text
            )
            return Outcome(path.name, response.status_code, label.strip(), time.perf_counter() - started)
        if response.status_code != 202:
            return failed(response.status_code, response.text[:200])
        status_url = response.json()["results"][0]["status_url"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # A long poll: the server answers as soon as the result is recorded (or after 20 s, and we ask again).
            polled = client.get(status_url, params={"wait": 20})
            if polled.status_code != 200:
                return failed(polled.status_code, f"status poll: {polled.text[:200]}")
            body = polled.json()
            if body["status"] == "done":
                return Outcome(path.name, 200, body["label"], time.perf_counter() - started)
            if body["status"] == "failed":
                return failed(200, body.get("error") or "failed")
        return failed(0, f"not done after {timeout:.0f} s")
    except httpx.HTTPError as exc:
        return failed(0, f"{type(exc).__name__}: {exc}")
    except (ValueError, KeyError, IndexError, TypeError) as exc:  # an answer that is not the API's JSON
        return failed(0, f"unexpected answer: {type(exc).__name__}: {exc}")


def run(
    url: str,
    images: list[Path],
    requests: int,
    concurrency: int,
    protocol: str,
    *,
    timeout: float = 300.0,
    expected: dict[str, str] | None = None,
    progress: Callable[[], None] | None = None,
    token: str = "",
) -> LoadReport:
    """`token`: sent as `Authorization: Token <token>` (a deployment with API_AUTH on wants one)."""
    report = LoadReport(expected=expected or {})
    lock = threading.Lock()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Token {token}"} if token else {}
    with httpx.Client(timeout=timeout, limits=limits, headers=headers) as client:

        def one(index: int) -> None:
            outcome = send_one(client, url, protocol, images[index % len(images)], timeout)
            with lock:
                report.outcomes.append(outcome)
            if progress:
                progress()

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(one, range(requests)))
        report.wall_seconds = time.perf_counter() - started
    return report
