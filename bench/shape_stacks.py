"""The stack's runs of one shape, in a process of their own: `bench/pipeline.py` starts one per shape, since a
Django process's storage and database are settled when it starts.

    .venv/bin/python -m bench.shape_stacks --shape production --database-url URL --out FILE [the stack's options]

It runs the stack with every fast path on and with FAST_PATHS off, then (with `--each`) once per fast path with
that one off, and writes every run as JSON to `--out` for the table. The bare model (torch eager and the stack's
backend) is measured again just before and just after the run with every fast path on: this shape's ratios are set
against the model's cost over those minutes, not against a measurement taken minutes earlier.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import each_path  # noqa: E402  (the project is on the path only from here)
from bench.bare import Bare, bare_each, mean_of  # noqa: E402
from bench.images import IMAGES  # noqa: E402
from bench.shapes import SHAPES, shape_env  # noqa: E402
from bench.stack_run import StackRun, run_stack  # noqa: E402


@dataclass(frozen=True)
class ShapeStacks:
    """One shape's runs: every fast path on and FAST_PATHS off; with `--each`, the reference and each one off."""

    runs: tuple[StackRun, StackRun]
    storage: str
    before: dict[str, Bare]  # the bare model by backend, just before the run with every fast path on
    after: dict[str, Bare]  # and just after it
    each_requests: int = 0
    reference: StackRun | None = None
    withouts: tuple[each_path.Without, ...] = ()

    @classmethod
    def load(cls, path: Path) -> ShapeStacks:
        found = json.loads(path.read_text())
        on, off = (from_json(run) for run in found["runs"])
        withouts = tuple(
            each_path.Without(w["name"], from_json(w["run"]) if w["run"] else None, w["error"])
            for w in found.get("withouts", [])
        )
        reference = found.get("reference")
        before, after = ({name: Bare(**bare) for name, bare in found[side].items()} for side in ("before", "after"))
        return cls((on, off), found["storage"], before, after, found.get("each_requests", 0),
                   from_json(reference) if reference else None, withouts)  # fmt: skip

    @property
    def bare(self) -> dict[str, Bare]:
        """The bare model over the minutes of this shape's run: the mean of its measurements either side."""
        return {name: mean_of(self.before[name], self.after[name]) for name in self.before}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=SHAPES, required=True)
    parser.add_argument("--database-url", default="", help="production's database")
    parser.add_argument("--scratch", type=Path, required=True, help="the run's folder (VAR_DIR)")
    parser.add_argument("--out", type=Path, required=True, help="where the runs go, as JSON")
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--images", type=int, required=True)
    parser.add_argument("--rounds", type=int, required=True, help="the bare model's passes over the images")
    parser.add_argument("--each", default="", help="the fast paths to run one by one with that one off")
    parser.add_argument("--each-requests", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = arguments()
    os.environ.update(shape_env(args.shape, args.scratch, args.database_url), DJANGO_SETTINGS_MODULE="project.settings")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import django

    django.setup()
    from django.conf import settings

    from classifier.inference.model import choose_backend

    every = frozenset(settings.FAST_PATH_NAMES)
    paths = sorted(IMAGES.glob("*.JPEG"))[: args.images]
    stack = partial(run_stack, processes=args.processes, concurrency=args.concurrency, backend=args.backend,
                    paths=paths)  # fmt: skip
    print(
        f"{args.shape} shape: {settings.STORAGE_BACKEND} storage, {settings.DATABASES['default']['ENGINE']}", flush=True
    )
    bare = partial(bare_each, list(dict.fromkeys(["torch", choose_backend(args.backend)])), args.processes,
                   len(paths), args.rounds)  # fmt: skip
    before = bare()
    on = stack(every, requests=args.requests)
    after = bare()
    runs = [on, stack(frozenset(), requests=args.requests)]
    names = [name for name in args.each.split(",") if name]
    found: dict[str, object] = {
        "runs": [as_json(run) for run in runs],
        "storage": settings.STORAGE_BACKEND,
        "before": {name: asdict(measured) for name, measured in before.items()},
        "after": {name: asdict(measured) for name, measured in after.items()},
    }
    if names:
        each_requests = min(args.each_requests or args.requests, args.requests)
        reference = runs[0] if each_requests == args.requests else stack(every, requests=each_requests, latency=False)
        withouts = each_path.each_off(names, every, partial(stack, requests=each_requests, latency=False))
        found |= {
            "each_requests": each_requests,
            "reference": as_json(reference),
            "withouts": [
                {"name": w.name, "run": as_json(w.run) if w.run else None, "error": w.error} for w in withouts
            ],
        }
    args.out.write_text(json.dumps(found))


def as_json(run: StackRun) -> dict[str, object]:
    return {**asdict(run), "fast_paths": sorted(run.fast_paths)}


def from_json(data: dict[str, object]) -> StackRun:
    return StackRun(**{**data, "fast_paths": frozenset(data["fast_paths"])})  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
