"""Benchmark: the bare model against the same images through the running local stack, in one run.

    .venv/bin/python bench/pipeline.py [--workers N] [--concurrency C] [--rounds R]

Prints the bare model's throughput (batch 1 and its best batch), then the stack's: throughput of synchronous
CSE546-style requests at concurrency 20, and the latency of one request at a time minus the bare single-image
time (what the web tier, the queues and the results consumer add). The queues are moto's embedded server: its
per-call cost is part of the stack figures, as SQS's would be in AWS.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
IMAGES = Path(os.environ.get("TEST_DATA_DIR", ROOT.parent / "shared" / "data")) / "imagenet-100"


def bare_model(images: list[bytes]) -> tuple[float, float, dict[int, float]]:
    """(mean seconds per image at batch 1, images/s at batch 1, images/s by batch size)."""
    from classifier.inference import get_classifier

    classifier = get_classifier()
    for data in images[:5]:
        classifier.classify(data)
    started = time.perf_counter()
    for data in images:
        classifier.classify(data)
    per_image = (time.perf_counter() - started) / len(images)
    by_batch: dict[int, float] = {1: 1 / per_image}
    for size in (4, 8, 16, 32):
        started = time.perf_counter()
        for start in range(0, len(images), size):
            classifier.classify_batch([classifier.preprocess(data) for data in images[start : start + size]])
        by_batch[size] = len(images) / (time.perf_counter() - started)
    return per_image, 1 / per_image, by_batch


def through_stack(web_url: str, paths: list[Path], concurrency: int, rounds: int) -> tuple[float, list[float]]:
    import httpx

    # One pooled client: a client per request would spend more CPU on its own set-up than the server spends on
    # the request, and the load generator shares these cores with the stack it measures.
    client = httpx.Client(timeout=120, limits=httpx.Limits(max_connections=concurrency))
    payloads = {path: path.read_bytes() for path in paths}

    def send(path: Path) -> float:
        started = time.perf_counter()
        response = client.post(web_url + "/", files={"myfile": (path.name, payloads[path], "image/jpeg")})
        if response.status_code != 200:
            raise RuntimeError(f"{path.name}: {response.status_code} {response.text}")
        return time.perf_counter() - started

    for path in paths[:4]:  # warm up: connections, the workers' first requests
        send(path)
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            list(pool.map(send, paths))
        best = max(best, len(paths) / (time.perf_counter() - started))
    sequential = [send(path) for path in paths]
    return best, sequential


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent sync requests (default 20)")
    parser.add_argument("--rounds", type=int, default=2, help="concurrent rounds over the 100 images; best counts")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        VAR_DIR=str(scratch),
        DATABASE_URL=f"sqlite:///{scratch / 'bench.sqlite3'}",
        LOG_LEVEL="WARNING",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from common.percentiles import percentiles
    from stack.local import LocalStack
    from stack.processes import free_port

    paths = sorted(IMAGES.glob("*.JPEG"))
    images = [path.read_bytes() for path in paths]
    print(f"images: {len(paths)} from {IMAGES}")

    per_image, bare_b1, by_batch = bare_model(images)
    best_batch = max(by_batch, key=by_batch.__getitem__)
    print("bare model (this process, 1 torch thread, decode + preprocess + forward):")
    for size, rate in by_batch.items():
        print(f"  batch {size:>2}: {rate:6.1f} images/s")
    print(f"  best batch {best_batch}: {by_batch[best_batch]:.1f} images/s; single image {per_image * 1000:.1f} ms")

    call_command("migrate", verbosity=0)
    stack = LocalStack(
        web_port=free_port(), workers=args.workers, worker_concurrency=args.worker_concurrency, log_dir=scratch
    )
    stack.start()
    try:
        time.sleep(3)  # let the workers load the model before timing
        throughput, sequential = through_stack(stack.web_url, paths, args.concurrency, args.rounds)
    finally:
        stack.stop()

    added = [seconds - per_image for seconds in sequential]
    one_p50, one_p95 = percentiles(sequential, [50, 95])
    added_p50, added_p95 = percentiles(added, [50, 95])
    print(f"stack ({args.workers} worker process(es) x {args.worker_concurrency}, moto's SQS, SQLite, disk storage):")
    print(f"  sync requests at concurrency {args.concurrency}: {throughput:.1f} images/s")
    print(f"  one at a time: p50 {one_p50 * 1000:.0f} ms, p95 {one_p95 * 1000:.0f} ms")
    print(
        f"  added over the bare single-image time: p50 {added_p50 * 1000:.0f} ms, "
        f"p95 {added_p95 * 1000:.0f} ms   (target: p50 < 150 ms)"
    )
    print(f"ratio stack / bare batch-1 throughput: {throughput / bare_b1:.2f}   (target: >= 0.6)")
    print(f"ratio stack / bare best-batch throughput: {throughput / by_batch[best_batch]:.2f}")


if __name__ == "__main__":
    main()
