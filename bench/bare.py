"""The bare model, the yardstick for the stack: P processes of one thread each decoding, preprocessing and classifying
the course's images in a loop, with nothing of ours around them. Its CPU per image is the model's own cost, which
"our CPU" in the table is set against; its single-image time is the floor under any request's latency; its batch
cost says whether classifying a received batch together would pay on this CPU."""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass

from bench.images import IMAGES


@dataclass(frozen=True)
class Bare:
    backend: str
    images_per_second: float
    cpu_ms_per_image: float
    single_image_ms: float  # one process, one image at a time: the floor under any request's latency
    labels: list[str]


def _bare_loop(backend: str, count: int, rounds: int, ready: object, go: object, results: object) -> None:
    """One bare process: load, warm up, wait for the others, then classify every image `rounds` times."""
    from classifier.inference.model import ImageClassifier

    classifier = ImageClassifier("tf_efficientnet_lite0", backend=backend, threads=1)
    images = [path.read_bytes() for path in sorted(IMAGES.glob("*.JPEG"))[:count]]
    for data in images[:5]:
        classifier.classify(data)
    ready.put(os.getpid())  # type: ignore[attr-defined]
    go.wait()  # type: ignore[attr-defined]
    started, cpu_started = time.perf_counter(), time.process_time()
    labels = [classifier.classify(data).best.label for data in images]
    for _ in range(rounds - 1):
        for data in images:
            classifier.classify(data)
    results.put((started, time.perf_counter(), time.process_time() - cpu_started, len(images) * rounds, labels))  # type: ignore[attr-defined]


def bare_best(backend: str, processes: int, count: int, rounds: int) -> Bare:
    """`processes` bare loops started together (spawned: no state shared with this process), timed from the first
    one's start to the last one's end, so the figure is the machine's, as the stack's is."""
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    arguments = (backend, count, rounds, ready, go, results)
    children = [context.Process(target=_bare_loop, args=arguments) for _ in range(processes)]
    for child in children:
        child.start()
    try:
        for _ in children:
            ready.get(timeout=300)
        go.set()
        runs = [results.get(timeout=600) for _ in children]
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    images = sum(run[3] for run in runs)
    wall = max(run[1] for run in runs) - min(run[0] for run in runs)
    cpu_ms = sum(run[2] for run in runs) * 1000 / images
    return Bare(backend, images / wall, cpu_ms, single_image_ms(backend, count), runs[0][4])


def single_image_ms(backend: str, count: int) -> float:
    """Median time of one image, alone on the machine: decode, preprocess, forward."""
    from classifier.inference.model import ImageClassifier

    classifier = ImageClassifier("tf_efficientnet_lite0", backend=backend, threads=1)
    images = [path.read_bytes() for path in sorted(IMAGES.glob("*.JPEG"))[: min(count, 40)]]
    times = []
    for data in images[:5] + images:
        started = time.perf_counter()
        classifier.classify(data)
        times.append(time.perf_counter() - started)
    return sorted(times[5:])[len(times[5:]) // 2] * 1000


def batch_cost(backend: str, count: int, sizes: tuple[int, ...] = (1, 4, 10)) -> dict[int, float]:
    """Forward time per image (ms) at each batch size, one process of one thread, on preprocessed images: whether
    classifying a received batch of ten together would pay on this CPU."""
    from classifier.inference.model import ImageClassifier

    classifier = ImageClassifier("tf_efficientnet_lite0", backend=backend, threads=1)
    arrays = [classifier.preprocess(path.read_bytes()) for path in sorted(IMAGES.glob("*.JPEG"))[: max(count, 10)]]
    per_image = {}
    for size in sizes:
        batches = [arrays[start : start + size] for start in range(0, len(arrays) - size + 1, size)]
        classifier.classify_batch(batches[0])  # warm
        started = time.perf_counter()
        for batch in batches:
            classifier.classify_batch(batch)
        per_image[size] = (time.perf_counter() - started) * 1000 / sum(len(batch) for batch in batches)
    return per_image


def bare_each(backends: list[str], processes: int, count: int, rounds: int) -> dict[str, Bare]:
    """The bare best of each of `backends`, one after another."""
    return {backend: bare_best(backend, processes, count, rounds) for backend in backends}


def mean_of(before: Bare, after: Bare) -> Bare:
    """The same bare model measured either side of a stack's run: its figures over the run's minutes. This machine's
    speed drifts by a tenth within minutes, and "the workers beyond the model" takes the whole of any difference
    between the model's cost when it was measured and when the stack ran."""
    return Bare(
        before.backend,
        (before.images_per_second + after.images_per_second) / 2,
        (before.cpu_ms_per_image + after.cpu_ms_per_image) / 2,
        (before.single_image_ms + after.single_image_ms) / 2,
        before.labels,
    )
