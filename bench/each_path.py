"""What each fast path earns on its own: the stack once more per fast path, with every other one on and that one off,
set against every one on in the same phase (the same number of requests, minutes apart, since these machines'
speed moves within the hour). Issue 34's rule reads off this table: a fast path that saves less than 5 % of our CPU
per image goes.

Our CPU leaves out the endpoint (AWS's in production), so a fast path of the endpoint's own earns nothing there; the
endpoint's column shows it. A fast path for S3 storage earns nothing on a stack that stores on disk.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass

from bench.stack_run import StackRun

THRESHOLD = 0.05  # of our CPU per image with every fast path on: below it, the fast path goes (issue 34)
HEADERS = ("fast path", "our CPU per image with it off", "what it earns (% of all on)", "stack images/s with it off",
           "endpoint CPU per image", "")  # fmt: skip
# Where a fast path's worth cannot show in our CPU on this stack, and why.
NOTES = {
    "moto_server": "the endpoint's own: AWS's in production, so not our CPU",
    "django_storages": "S3 storage only",
    "botocore_s3": "S3 storage only",
}


@dataclass(frozen=True)
class Without:
    """The stack with one fast path off (`run` None where that stack failed, and `error` says how)."""

    name: str
    run: StackRun | None
    error: str = ""


def each_off(names: list[str], every: frozenset[str], run: Callable[[frozenset[str]], StackRun]) -> list[Without]:
    """One stack per name, all of `every` on but that one; a stack that fails is reported, and the others still run."""
    found = []
    for name in names:
        try:
            found.append(Without(name, run(every - {name})))
        except Exception as exc:  # one stock path broken is a finding, not the end of the other runs
            traceback.print_exc()
            found.append(Without(name, None, f"{type(exc).__name__}: {exc}"))
    return found


def render(reference: StackRun, withouts: list[Without], model_ms: float, requests: int, storage: str) -> list[str]:
    """The table, a line on what it is set against, and the fast paths under the threshold."""
    ours_on = reference.ours_ms(model_ms)
    rows = [("all on (the reference)", f"{ours_on:.1f} ms", "", f"{reference.images_per_second:.1f}",
             f"{reference.cpu_ms_per_image['aws-endpoint']:.1f} ms", "")]  # fmt: skip
    below = []
    for without in withouts:
        note = NOTES.get(without.name, "")
        if without.name in ("django_storages", "botocore_s3") and storage == "s3":
            note = ""
        if without.run is None:
            rows.append((without.name, "failed", "", "", "", without.error[:200]))
            continue
        ours = without.run.ours_ms(model_ms)
        earns = ours - ours_on
        share = earns / ours_on if ours_on > 0 else float("nan")
        if not share >= THRESHOLD:
            below.append(without.name)
        rows.append((without.name, f"{ours:.1f} ms", f"{earns:.2f} ms ({share * 100:.0f} %)",
                     f"{without.run.images_per_second:.1f}", f"{without.run.cpu_ms_per_image['aws-endpoint']:.1f} ms",
                     note))  # fmt: skip
    widths = [max(len(row[column]) for row in [HEADERS, *rows]) for column in range(len(HEADERS))]
    lines = [
        f"Each fast path off on its own, every other one on: {requests} requests each, set against every one on with "
        f"the same requests; the model's own cost {model_ms:.1f} ms per image."
    ]
    for row in [HEADERS, *rows]:
        figures = zip(row[1:-1], widths[1:-1], strict=True)
        cells = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in figures)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.append(
        f"Saves less than {THRESHOLD * 100:.0f} % of our CPU per image: {', '.join(below)}."
        if below
        else f"Every fast path measured saves at least {THRESHOLD * 100:.0f} % of our CPU per image."
    )
    return lines
