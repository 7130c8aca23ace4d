"""Benchmark: the bare model against the same images through the running stack in both shapes, in one run.

    .venv/bin/python bench/pipeline.py [--shapes local,production] [--processes P] [--concurrency 30]
                                       [--requests 1000] [--backend auto] [--each] [--each-requests 500]
                                       [--each-only NAME,NAME]

1. The bare best, for torch eager (what a user would write by hand) and for the stack's own backend: P processes
   (default: the cores) of one thread each, each decoding, preprocessing and classifying the 100 images in a loop.
   Its CPU per image is the model's own cost, the yardstick for ours.
2. The stack in each shape (bench/shapes.py): local as `make run` starts it (disk storage, SQLite), production as AWS
   runs it (S3 on the embedded endpoint, PostgreSQL); P fixed workers of one process each, moto on the same cores,
   the shipped log level and format, its state in a new folder under var/bench/ (bench/scratch.py says why not
   /tmp). Synchronous CSE546 requests (`POST /`, `myfile`) at `--concurrency`, warm. Meanwhile it reads each role's
   CPU from /proc (web, results consumer, workers, endpoint), counts the SQS calls the endpoint answered, and compares
   every answer's label with the bare torch model's. Each shape runs twice, the same requests each time: with every
   fast path on, and with FAST_PATHS off (every library's stock path). A shape's stacks run in a process of their own
   (bench/shape_stacks.py): a Django process's storage and database are settled when it starts.
3. One request at a time: the latency the stack adds over the bare single-image time of its backend.
4. One worker's memory, all its processes (RSS, and PSS, which counts a page shared by fork once).
5. A worker's cold start, the stack from zero workers, and the results consumer on a backlog (the local shape).
6. With `--each` (or `--each-only`), the stack once more per fast path and shape with that one off and the others on,
   and a small table of what each earns.

It prints the two shapes side by side first (bench/shape_table.py), then each shape's full table. Every figure is
measured in this run against this run's baseline: these machines are shared and noisy, so ratios, not absolute
numbers, are what compares across runs. The endpoint's CPU and calls are moto's.

By job: the bare model in bench/bare.py, the stack's run in bench/stack_run.py (its callers in bench/callers.py),
cold start and from zero in bench/startup.py, the backlog in bench/backlog.py, the tables in bench/table.py and
bench/shape_table.py, each fast path's run in bench/each_path.py; here, the command line and the order of the runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import each_path, measure, shape_table, table  # noqa: E402  (the project is on the path only from here)
from bench.backlog import results_backlog  # noqa: E402
from bench.bare import bare_best, batch_cost  # noqa: E402
from bench.images import IMAGES  # noqa: E402
from bench.scratch import scratch_folder  # noqa: E402
from bench.shape_stacks import ShapeStacks  # noqa: E402
from bench.shapes import SHAPES, postgres_database, shape_env  # noqa: E402
from bench.startup import cold_start, from_zero  # noqa: E402


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cores = os.cpu_count() or 1
    parser.add_argument("--processes", type=int, default=cores, help=f"bare processes and stack workers ({cores})")
    parser.add_argument("--concurrency", type=int, default=30, help="concurrent sync requests (default 30)")
    # Long enough that the burst's ramp and tail (smaller batches, idle cores) and the machine's moments weigh little:
    # a burst of a few seconds reads our CPU higher than one of 1,000 requests (bench/README.md has the runs).
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
    parser.add_argument("--shapes", default=",".join(SHAPES), help="the shapes the stack runs in (default: both)")
    parser.add_argument("--each", action="store_true", help="then the stack once per fast path with that one off")
    parser.add_argument(
        "--each-requests",
        type=int,
        default=500,
        help="requests in each of those bursts (default 500, at most --requests; where fewer than --requests, every "
        "fast path on is run once more at this size as their reference)",
    )
    parser.add_argument("--each-only", default="", help="the fast paths to run on their own (implies --each)")
    return parser.parse_args()


def each_names(args: argparse.Namespace, known: tuple[str, ...]) -> list[str]:
    """The fast paths `--each` runs one by one: `--each-only`'s, or all of them."""
    picked = [name.strip() for name in args.each_only.split(",") if name.strip()]
    unknown = sorted(set(picked) - set(known))
    if unknown:
        sys.exit(f"--each-only: no fast path {', '.join(unknown)}; they are {', '.join(known)}")
    return picked or (list(known) if args.each else [])


def _shown(path: Path) -> str:
    """A path as the table prints it: from the repository's folder, so a pasted table names no machine's folders."""
    return os.path.relpath(path, ROOT)


def main() -> None:
    args = arguments()
    shapes = [shape.strip() for shape in args.shapes.split(",") if shape.strip()]
    if not shapes or set(shapes) - set(SHAPES):
        sys.exit(f"--shapes: one or more of {', '.join(SHAPES)}")
    scratch = scratch_folder("bench-")
    # This process is the local shape: the bare runs, cold start, from zero and the backlog run here.
    os.environ.update(
        shape_env("local", scratch), DJANGO_SETTINGS_MODULE="project.settings", CLASSIFIER_BACKEND=args.backend
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from classifier.inference.model import choose_backend

    call_command("migrate", verbosity=0)  # the local shape's database, for the stacks started in this process

    names = each_names(args, settings.FAST_PATH_NAMES)
    every, here = frozenset(settings.FAST_PATH_NAMES), settings.FAST_PATHS
    paths = sorted(IMAGES.glob("*.JPEG"))[: args.images]
    backend = choose_backend(args.backend)
    where = f"images: {len(paths)} from {_shown(IMAGES)}; scratch {_shown(scratch)}"
    print(f"{where}; {cores()} cores ({measure.cpu_model()}); the shipped log level and format", flush=True)
    bare = {"torch": bare_best("torch", args.processes, len(paths), args.rounds)}
    for name in dict.fromkeys([backend, "torchscript", "onnx"]):
        bare[name] = bare.get(name) or bare_best(name, args.processes, len(paths), args.rounds)
    batches = batch_cost(backend, len(paths))
    stacks = {shape: shape_stacks(shape, args, scratch, names) for shape in shapes}
    cold = {name: cold_start(name) for name in dict.fromkeys([backend, "torch"])}
    zero = {int(n): from_zero(int(n)) for n in args.from_zero.split(",") if n.strip()}
    drain = results_backlog(args.backlog) if args.backlog else None

    setup = table.Setup(args.processes, args.concurrency, args.requests, backend, args.backlog)
    expected = dict(zip([path.name for path in paths], bare["torch"].labels, strict=True))
    print()
    print("\n".join(shape_table.render(setup, stacks, expected)))
    failed = False
    for shape, found in stacks.items():
        model_ms = found.bare[backend].cpu_ms_per_image
        rows = table.stack_rows(setup, found.bare, found.runs, batches, expected)
        print(f"\nThe {shape} shape ({shape_table.DESCRIPTIONS[shape]}). {table.legend(here, every)}")
        print("\n".join(table.render(table.bare_rows(setup, bare) + rows if shape == shapes[0] else rows)))
        print(table.earned_together(found.runs, model_ms), flush=True)
        if found.withouts:
            print()
            print(
                "\n".join(
                    each_path.render(found.reference, found.withouts, model_ms, found.each_requests, found.storage)
                )
            )
            failed |= any(without.run is None for without in found.withouts)
    print("\nNo stack (or the local shape's, with FAST_PATHS as set here):")
    print("\n".join(table.render(table.startup_rows(setup, cold, zero, drain))))
    if failed:
        sys.exit("a stack with one fast path off failed: see its row and the traceback above")


def shape_stacks(shape: str, args: argparse.Namespace, scratch: Path, names: list[str]) -> ShapeStacks:
    """The stack's runs in `shape`, made by a process of their own (bench/shape_stacks.py)."""
    folder = scratch / shape
    folder.mkdir()
    out = folder / "runs.json"
    argv = [sys.executable, "-m", "bench.shape_stacks", "--shape", shape, "--scratch", str(folder), "--out", str(out),
            "--processes", str(args.processes), "--concurrency", str(args.concurrency), "--requests",
            str(args.requests), "--backend", args.backend, "--images", str(args.images), "--rounds", str(args.rounds),
            "--each", ",".join(names),
            "--each-requests", str(args.each_requests)]  # fmt: skip
    with contextlib.ExitStack() as stack:
        if shape == "production":
            argv += ["--database-url", stack.enter_context(postgres_database())]
        subprocess.run(argv, cwd=ROOT, check=True)
    return ShapeStacks.load(out)


def cores() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    main()
