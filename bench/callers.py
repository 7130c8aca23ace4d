"""The load generator's caller: CSE546-style synchronous requests, as the course's own generator sends them. It runs
in the benchmark's process, on the cores the stack is measured on, so it is kept as cheap as an HTTP client can be."""

from __future__ import annotations

import logging
import time
from pathlib import Path


class SyncCaller:
    """CSE546-style synchronous requests (`POST /`, `myfile`) over one pooled client: a client per request would
    spend more CPU on its own set-up than the server spends on the request, and the load generator shares these
    cores with the stack it measures."""

    def __init__(self, web_url: str, concurrency: int, paths: list[Path]) -> None:
        import httpx

        # httpx logs every request at INFO, the level the stack ships with: the load generator is not the service.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self.web_url = web_url
        self.client = httpx.Client(timeout=300, limits=httpx.Limits(max_connections=concurrency))
        self.payloads = {path.name: path.read_bytes() for path in paths}

    def send(self, name: str) -> tuple[str, str, float]:
        """(file name, the label answered, seconds)."""
        started = time.perf_counter()
        response = self.client.post(self.web_url + "/", files={"myfile": (name, self.payloads[name], "image/jpeg")})
        if response.status_code != 200:
            raise RuntimeError(f"{name}: {response.status_code} {response.text}")
        return name, response.text.strip(), time.perf_counter() - started

    def close(self) -> None:
        self.client.close()
