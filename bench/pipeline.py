"""Benchmark: the bare model against the same images through the running local stack, in one run, one table.

    .venv/bin/python bench/pipeline.py [--processes P] [--concurrency 30] [--requests 1000] [--backend auto]

1. The bare best, for torch eager (what a user would write by hand) and for the stack's own backend: P processes
   (default: the cores) of one thread each, each decoding, preprocessing and classifying the 100 images in a loop.
   Its CPU per image is the model's own cost, the yardstick for ours.
2. The stack as `make run` builds it (P fixed workers of one process each, moto's SQS on the same cores, SQLite,
   disk storage, its state in a new folder under var/bench/, not /tmp: bench/scratch.py says why): synchronous
   CSE546 requests (`POST /`, `myfile`) at `--concurrency`, warm. Meanwhile it reads each role's CPU from /proc
   (web, results consumer, workers, endpoint), counts the SQS calls the endpoint answered, and compares every label
   with the bare torch model's.
3. One request at a time: the latency the stack adds over the bare single-image time of its backend.
4. One worker's memory, all its processes (RSS, and PSS, which counts a page shared by fork once).

Every figure is measured in this run against this run's baseline: these machines are shared and noisy, so
ratios, not absolute numbers, are what compares across runs. The endpoint's CPU and calls are moto's.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
IMAGES = Path(os.environ.get("TEST_DATA_DIR", ROOT.parent / "shared" / "data")) / "imagenet-100"

from bench import measure  # noqa: E402  (the project is on the path only from here)
from bench.scratch import scratch_folder  # noqa: E402

ROLES = ("web", "results-consumer", "workers", "aws-endpoint", "sweeper")


# --- The bare model ------------------------------------------------------------------------------------------------
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


# --- Callers ----------------------------------------------------------------------------------------------------
class SyncCaller:
    """CSE546-style synchronous requests (`POST /`, `myfile`) over one pooled client: a client per request would
    spend more CPU on its own set-up than the server spends on the request, and the load generator shares these
    cores with the stack it measures."""

    def __init__(self, web_url: str, concurrency: int, paths: list[Path]) -> None:
        import httpx

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


# --- The stack -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackRun:
    images_per_second: float
    cpu_ms_per_image: dict[str, float]
    sqs_calls_per_image: float
    labels: dict[str, str]  # file name -> label answered
    sequential_seconds: list[float]
    callers_cpu_ms_per_image: float  # the load generator's own, on the same cores
    worker_rss_mib: float
    worker_pss_mib: float
    backend: str
    model_cpu_ms_in_stack: float  # the workers' own measure of decode, preprocess and forward, during the burst


def role_pids(stack: object) -> dict[str, list[int]]:
    roles: dict[str, list[int]] = {role: [] for role in ROLES}
    for process in stack.processes:  # type: ignore[attr-defined]
        role = "workers" if process.name.startswith("worker-") else process.name
        if role in roles and process.pid:
            roles[role] += measure.tree(process.pid)
    return roles


def role_cpu(stack: object) -> dict[str, float]:
    return {role: measure.cpu_seconds(pids) for role, pids in role_pids(stack).items()}


def run_stack(args: argparse.Namespace, scratch: Path, paths: list[Path]) -> StackRun:
    from django.core.management import call_command

    from stack.local import LocalStack
    from stack.processes import free_port

    call_command("migrate", verbosity=0)
    stack = LocalStack(
        web_port=free_port(),
        workers=args.processes,
        log_dir=scratch,
        extra_env={"CLASSIFIER_BACKEND": args.backend, "LOG_LEVEL": "WARNING"},
    )
    stack.start()
    caller = SyncCaller(stack.web_url, args.concurrency, paths)
    send = caller.send

    try:
        warm = [path.name for path in paths[: args.processes * 4]]
        for _ in range(2):  # connections, and every worker's first requests (its model is loaded at start)
            with ThreadPoolExecutor(max_workers=args.processes * 2) as pool:
                list(pool.map(send, warm))
        time.sleep(1)
        names = [paths[i % len(paths)].name for i in range(args.requests)]
        endpoint_log = scratch / "aws-endpoint.log"
        calls_before, cpu_before = measure.sqs_calls(endpoint_log), role_cpu(stack)
        model_before = measure.histogram_totals(stack.metrics_dir, "classifier_model_cpu_seconds")
        callers_before = time.process_time()  # this process: the callers' threads
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            answers = list(pool.map(send, names))
        wall = time.perf_counter() - started
        cpu_after, calls_after = role_cpu(stack), measure.sqs_calls(endpoint_log)
        model_after = measure.histogram_totals(stack.metrics_dir, "classifier_model_cpu_seconds")
        callers_ms = (time.process_time() - callers_before) * 1000 / len(names)
        sequential = [send(path.name)[2] for path in paths]
        memory = [measure.memory_mib(measure.tree(p.pid)) for p in stack.processes if p.name.startswith("worker-")]
        backend = _worker_backend()
    finally:
        caller.close()
        stack.stop()
    cpu = {role: (cpu_after[role] - cpu_before[role]) * 1000 / len(names) for role in ROLES}
    labels = {name: label for name, label, _ in answers}
    rss, pss = max(memory, key=lambda pair: pair[1])
    return StackRun(
        len(names) / wall,
        cpu,
        (calls_after - calls_before) / len(names),
        labels,
        sequential,
        callers_ms,
        rss,
        pss,
        backend,
        (model_after[1] - model_before[1]) * 1000 / max(1.0, model_after[0] - model_before[0]),
    )


def _worker_backend() -> str:
    """The backend the workers loaded, from the model version their results carry (read back from the database)."""
    from classifier.models import Classification

    version = Classification.objects.exclude(model_version="").values_list("model_version", flat=True).first() or ""
    return version.rsplit(" ", 1)[-1] if " " in version else "unknown"


# --- A results backlog ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Drain:
    results_per_second: float
    cpu_ms_per_result: float
    sqs_calls_per_result: float


def results_backlog(count: int) -> Drain:
    """`count` results waiting on the results queue (the consumer stopped meanwhile, as after an outage or behind a
    large fleet), then the consumer started again: how fast it records them, and at what cost."""
    from classifier.contract import Kind, ResultPayload
    from classifier.models import Classification, Status
    from classifier.worker.job import now_iso
    from classifier.worker.outbox import send_now
    from stack.local import LocalStack
    from stack.processes import free_port

    scratch = _scratch()
    stack = LocalStack(web_port=free_port(), workers=0, log_dir=scratch, extra_env={"LOG_LEVEL": "WARNING"})
    stack.start()
    try:
        stack.process("results-consumer").stop()
        os.environ.update(stack.child_env())  # this process sends the reports, to the stack's endpoint
        rows = Classification.objects.bulk_create(
            Classification(original_name=f"{n}.JPEG", input_key=f"k/{n}.JPEG") for n in range(count)
        )
        at = now_iso()
        for row in rows:
            top5 = [{"class_id": 323, "label": "monarch butterfly", "probability": 0.84}]
            result = ResultPayload(label="monarch butterfly", class_id=323, top5=top5, model_name="efficientnet_lite0",
                                   model_version="bench", inference_ms=15.0, output_key=f"out/{row.pk}",
                                   worker="bench@host", started_at=at, finished_at=at)  # fmt: skip
            send_now(Kind.RESULT, str(row.pk), result)
        consumer = stack.respawn("results-consumer")
        recorded = Classification.objects.filter(pk__in=[row.pk for row in rows], status=Status.DONE)
        deadline = time.perf_counter() + 300
        while not recorded.exists():  # the consumer's start-up (Django, boto3) is not what is measured
            _before(deadline, "the consumer's first result")
            time.sleep(0.01)
        first = recorded.count()
        started, cpu_before = time.perf_counter(), measure.cpu_seconds(measure.tree(consumer.pid))
        calls_before = measure.sqs_calls(scratch / "aws-endpoint.log")
        while (done := recorded.count()) < count:
            _before(deadline, f"all {count} results ({done} recorded)")
            time.sleep(0.02)
        wall = time.perf_counter() - started
        cpu = measure.cpu_seconds(measure.tree(consumer.pid)) - cpu_before
        calls = measure.sqs_calls(scratch / "aws-endpoint.log") - calls_before
        return Drain((count - first) / wall, cpu * 1000 / (count - first), calls / (count - first))
    finally:
        stack.stop()


def _before(deadline: float, what: str) -> None:
    if time.perf_counter() > deadline:
        raise RuntimeError(f"timed out waiting for {what}")


# --- From zero ------------------------------------------------------------------------------------------------------
SEED_TABLE = {1: 68.0, 10: 80.0, 20: 92.0, 50: 108.0, 100: 128.0}  # the seed's seconds, on AWS, from zero


def cold_start(backend: str) -> float:
    """Seconds from a worker process's start to the answer of a request that was waiting for it."""
    from django.conf import settings

    from autoscale.worker_command import worker_argv
    from stack.local import LocalStack
    from stack.processes import free_port

    stack = LocalStack(web_port=free_port(), workers=0, extra_env={"LOG_LEVEL": "WARNING"}, log_dir=_scratch())
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

    stack = LocalStack(web_port=free_port(), workers=0, autoscale=True, log_dir=_scratch(),
                       extra_env={"LOG_LEVEL": "WARNING"})  # fmt: skip
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


def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="stack-", dir=os.environ["VAR_DIR"]))


# --- The table -----------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cores = os.cpu_count() or 1
    parser.add_argument("--processes", type=int, default=cores, help=f"bare processes and stack workers ({cores})")
    parser.add_argument("--concurrency", type=int, default=30, help="concurrent sync requests (default 30)")
    # Long enough that the burst's ramp and tail (smaller batches, idle cores) and the machine's moments weigh little:
    # with 300 requests, a burst of 3 s, our CPU read 0.31 of the model's where 1,000 read 0.24 minutes later.
    parser.add_argument("--requests", type=int, default=1000, help="requests in the timed burst (default 1000)")
    parser.add_argument("--rounds", type=int, default=4, help="bare passes over the images per process (default 4)")
    parser.add_argument("--images", type=int, default=100, help="how many of the 100 course images to use")
    parser.add_argument("--backend", default="auto", help="the stack's CLASSIFIER_BACKEND (default auto)")
    parser.add_argument("--from-zero", default="1,10,20,50,100", help="image counts for the table from zero ('' skips)")
    parser.add_argument(
        "--backlog",
        type=int,
        default=300,
        help="results waiting for the consumer (0 skips; a receive from moto costs more as its queue grows)",
    )
    args = parser.parse_args()

    scratch = scratch_folder("bench-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        VAR_DIR=str(scratch),
        DATABASE_URL=f"sqlite:///{scratch / 'bench.sqlite3'}",
        LOG_LEVEL="WARNING",
        CLASSIFIER_BACKEND=args.backend,
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import django

    django.setup()
    from classifier.inference.model import choose_backend
    from common.percentiles import percentiles

    paths = sorted(IMAGES.glob("*.JPEG"))[: args.images]
    backend = choose_backend(args.backend)
    print(f"images: {len(paths)} from {IMAGES}; {cores} cores ({measure.cpu_model()}); scratch {scratch}", flush=True)
    torch_bare = bare_best("torch", args.processes, len(paths), args.rounds)
    bare = {"torch": torch_bare}
    for name in dict.fromkeys([backend, "torchscript", "onnx"]):
        bare[name] = bare.get(name) or bare_best(name, args.processes, len(paths), args.rounds)
    own_bare = bare[backend]
    batches = batch_cost(backend, len(paths))
    stack = run_stack(args, scratch, paths)
    cold = {name: cold_start(name) for name in dict.fromkeys([backend, "torch"])}
    zero = {int(n): from_zero(int(n)) for n in args.from_zero.split(",") if n.strip()}
    drain = results_backlog(args.backlog) if args.backlog else None

    model_ms = own_bare.cpu_ms_per_image
    cpu = stack.cpu_ms_per_image
    workers_beyond_model = cpu["workers"] - model_ms
    ours = cpu["web"] + cpu["results-consumer"] + cpu["sweeper"] + workers_beyond_model
    # The same with the model's CPU as the workers measured it in the stack: what the shared cores add to the model's
    # step (moto and the load generator share them here; in production neither does) counts as the model's.
    model_in_stack = stack.model_cpu_ms_in_stack
    ours_in_stack = ours - (model_in_stack - model_ms)
    expected = dict(zip([path.name for path in paths], torch_bare.labels, strict=True))
    compared = [name for name in expected if name in stack.labels]
    agree = sum(stack.labels[name] == expected[name] for name in compared)
    added = [seconds * 1000 - own_bare.single_image_ms for seconds in stack.sequential_seconds]
    added_p50, added_p95 = percentiles(added, [50, 95])
    rows = [
        ("bare best, torch eager", f"{torch_bare.images_per_second:6.1f} images/s",
         f"{args.processes} processes x 1 thread; {torch_bare.cpu_ms_per_image:.1f} ms CPU per image"),
        *((f"bare best, {name}", f"{run.images_per_second:6.1f} images/s",
           f"{run.cpu_ms_per_image:.1f} ms CPU per image" + (" (the model's own cost)" if name == backend else ""))
          for name, run in bare.items() if name != "torch"),
        (f"stack, sync at concurrency {args.concurrency}", f"{stack.images_per_second:6.1f} images/s",
         f"{args.processes} workers on {stack.backend}; {args.requests} requests, warm"),
        ("  / bare best torch eager", f"{stack.images_per_second / torch_bare.images_per_second:6.2f}",
         "target >= 0.7 (goal 1.0)"),
        (f"  / bare best {own_bare.backend}", f"{stack.images_per_second / own_bare.images_per_second:6.2f}",
         "goal >= 0.6"),
        ("CPU ms per image: web", f"{cpu['web']:6.1f}", "target < 3"),
        ("  results consumer", f"{cpu['results-consumer']:6.1f}", "target < 1"),
        ("  sweeper", f"{cpu['sweeper']:6.1f}", ""),
        ("  workers", f"{cpu['workers']:6.1f}", f"of which the model {model_ms:.1f}"),
        ("  workers beyond the model", f"{workers_beyond_model:6.1f}",
         f"the model's own step took {model_in_stack:.1f} ms of CPU in the stack (the workers' measure) against "
         f"{model_ms:.1f} ms alone: what the shared cores add lands here"),
        ("  endpoint (moto)", f"{cpu['aws-endpoint']:6.1f}", "AWS's, in production"),
        ("  the callers (this process)", f"{stack.callers_cpu_ms_per_image:6.1f}",
         "the load generator, on the same cores"),
        ("our CPU / the model's", f"{ours / model_ms:6.2f}",
         f"{ours:.1f} ms (web + results + sweeper + workers beyond the model); target <= 0.3"),
        ("  the model's as measured in the stack", f"{ours_in_stack / model_in_stack:6.2f}",
         f"{ours_in_stack:.1f} ms against the model's {model_in_stack:.1f}: what the shared cores add to its step "
         "counted as the model's"),
        ("SQS calls per image", f"{stack.sqs_calls_per_image:6.2f}", "target <= 2 at depth"),
        (f"forward per image, batch 1 / {max(batches)} ({backend})", f"{batches[1]:5.1f} ms",
         " / ".join(f"batch {size}: {ms:.1f} ms" for size, ms in batches.items())
         + ("; batches do not pay here: workers classify one image at a time" if batches[max(batches)] >= batches[1]
            else "")),
        ("labels as the bare torch model", f"{agree:>6}", f"of {len(compared)}; target >= 98 of 100"),
        ("added latency, one at a time", f"{added_p50:6.0f} ms", f"p50 (p95 {added_p95:.0f} ms) over the bare "
         f"{own_bare.single_image_ms:.0f} ms of one image; target p50 < 30 ms"),
        ("one worker's memory", f"{stack.worker_pss_mib:6.0f} MiB",
         f"PSS of all its processes (RSS summed {stack.worker_rss_mib:.0f} MiB); target < 500"),
    ]  # fmt: skip
    rows += [(f"cold start, {name}", f"{seconds:6.1f} s", "worker process start to the first answer; target < 2 s"
              if name == backend else "worker process start to the first answer")
             for name, seconds in cold.items()]  # fmt: skip
    rows += [(f"from zero, {n} images", f"{seconds:6.1f} s", f"the seed: {SEED_TABLE[n]:.0f} s"
              + ("; target <= 8 s" if n == 100 else "") if n in SEED_TABLE else "")
             for n, seconds in zero.items()]  # fmt: skip
    if drain is not None:
        rows += [
            (
                f"results consumer, {args.backlog} waiting",
                f"{drain.results_per_second:6.0f} results/s",
                f"{drain.cpu_ms_per_result:.2f} ms CPU and {drain.sqs_calls_per_result:.2f} SQS calls per result",
            )
        ]
    width = max(len(name) for name, _, _ in rows)
    print()
    for name, figure, note in rows:
        print(f"{name:<{width}}  {figure:>14}  {note}")


if __name__ == "__main__":
    main()
