"""The soak's load and its record: synchronous CSE546 callers in a loop and one submitter of API batches on a fixed
beat, each call kept with its answer and its moments on one timeline that the faults share, so that the accounting
can tell a refusal inside the database cut from one outside it."""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.images import IMAGES


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
