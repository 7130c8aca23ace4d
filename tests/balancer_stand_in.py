"""A stand-in for the Application Load Balancer in EC2 in a box: a local HTTP proxy that sends each request to a
target the target group lists as registered (moto's record of what the web hosts' Auto Scaling group registered)
and its own health check finds healthy, the way the balancer does: GET /readyz on each target every interval,
healthy after two answers of 200 in a row, unhealthy after two failures; round robin among the healthy.

Requests keep their Host header (the balancer's DNS name, as a client sends it) and gain the balancer's
X-Forwarded-For, -Proto and -Port. With no healthy target the answer is 503, as the balancer's.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stack.processes import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class BalancerStandIn:
    def __init__(self, elbv2: Any, target_group_arn: str, port_of: Callable[[str], int], interval: float = 1.0,
                 threshold: int = 2) -> None:  # fmt: skip
        self.elbv2 = elbv2
        self.target_group_arn = target_group_arn
        self.port_of = port_of  # a target's (instance's) port here; 0 while it has none
        self.interval = interval
        self.threshold = threshold
        self.port = free_port()
        self.served: Counter[str] = Counter()  # requests forwarded, by target
        self._streaks: dict[str, int] = {}  # > 0: passes in a row; < 0: failures in a row
        self._healthy: list[str] = []
        self._turn = itertools.count()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._threads = [threading.Thread(target=self._server.serve_forever, name="balancer", daemon=True),
                         threading.Thread(target=self._check_health, name="balancer-health", daemon=True)]  # fmt: skip

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BalancerStandIn:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)

    def healthy(self) -> list[str]:
        with self._lock:
            return list(self._healthy)

    def registered(self) -> list[str]:
        described = self.elbv2.describe_target_health(TargetGroupArn=self.target_group_arn)
        return [target["Target"]["Id"] for target in described["TargetHealthDescriptions"]]

    # --- the health check ---------------------------------------------------------------------------------------
    def _check_health(self) -> None:
        while not self._stop.wait(self.interval):
            registered = self.registered()
            for target in registered:
                passed = self._ready(target)
                streak = self._streaks.get(target, 0)
                self._streaks[target] = (max(streak, 0) + 1) if passed else (min(streak, 0) - 1)
            with self._lock:
                self._healthy = [t for t in registered if self._streaks.get(t, 0) >= self.threshold or
                                 (t in self._healthy and self._streaks.get(t, 0) > -self.threshold)]  # fmt: skip

    def _ready(self, target: str) -> bool:
        port = self.port_of(target)
        if not port:
            return False
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:  # the balancer names the target by its address
            connection.request("GET", "/readyz", headers={"Host": f"127.0.0.1:{port}"})
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    # --- forwarding ---------------------------------------------------------------------------------------------
    def _pick(self) -> str | None:
        with self._lock:
            if not self._healthy:
                return None
            return self._healthy[next(self._turn) % len(self._healthy)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        balancer = self

        class Forward(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # the base class's name
                return

            def _forward(self) -> None:
                target = balancer._pick()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if target is None:
                    self._answer(503, [("Content-Type", "text/plain")], b"no healthy target\n")
                    return
                balancer.served[target] += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers.update({"X-Forwarded-For": self.client_address[0], "X-Forwarded-Proto": "http",
                                "X-Forwarded-Port": "80"})  # fmt: skip
                connection = http.client.HTTPConnection("127.0.0.1", balancer.port_of(target), timeout=120)
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                    kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
                    self._answer(answer.status, kept, data)
                except OSError as exc:  # the balancer's answer for a target that failed mid-request
                    self._answer(502, [("Content-Type", "text/plain")], f"target failed: {exc}\n".encode())
                finally:
                    connection.close()

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward  # noqa: N815  # the base class's names

        return Forward
