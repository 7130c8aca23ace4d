"""Starting from nothing: one worker's cold start (process start to the answer of a request that waited for it), and
`make run`'s stack from zero workers under a burst, the autoscaler's launches included, beside the seed's figures
for the same counts on AWS."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from bench.callers import SyncCaller
from bench.images import IMAGES
from bench.scratch import stack_folder

SEED_TABLE = {1: 68.0, 10: 80.0, 20: 92.0, 50: 108.0, 100: 128.0}  # the seed's seconds, on AWS, from zero


def cold_start(backend: str) -> float:
    """Seconds from a worker process's start to the answer of a request that was waiting for it."""
    from django.conf import settings

    from autoscale.worker_command import worker_argv
    from stack.local import LocalStack
    from stack.processes import free_port

    stack = LocalStack(web_port=free_port(), workers=0, log_dir=stack_folder())
    stack.start()
    caller = SyncCaller(stack.web_url, 1, [IMAGES / "test_2.JPEG"])
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            answer = pool.submit(caller.send, "test_2.JPEG")
            time.sleep(1.5)  # the request is queued, and nothing consumes it
            env = {**stack.child_env(), "CLASSIFIER_PRELOAD": "true", "CLASSIFIER_BACKEND": backend}
            started = time.perf_counter()
            stack.spawn("worker-1", worker_argv("worker-1", queue=settings.CLASSIFY_QUEUE), env)
            answer.result(timeout=300)
            return time.perf_counter() - started
    finally:
        caller.close()
        stack.stop()


def from_zero(count: int) -> float:
    """`make run`'s stack, no worker running: seconds until `count` simultaneous requests are all answered (100
    threads, `myfile`: the CSE546 multithreaded generator), the autoscaler's launches included."""
    from stack.local import LocalStack
    from stack.processes import free_port

    stack = LocalStack(web_port=free_port(), workers=0, autoscale=True, log_dir=stack_folder())
    stack.start()
    paths = sorted(IMAGES.glob("*.JPEG"))[:count]
    caller = SyncCaller(stack.web_url, 100, paths)
    try:
        time.sleep(2)  # the autoscaler's first look (at zero) is behind it
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=100) as pool:
            list(pool.map(caller.send, [path.name for path in paths]))
        return time.perf_counter() - started
    finally:
        caller.close()
        stack.stop()
