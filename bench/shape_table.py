"""The two shapes side by side: the stack with every fast path on, in the local shape and in production's, one
column each, each row saying whose CPU it is and what it is held to.

The web tier's capacity is read off its CPU per upload: one web process is one Python interpreter, so it sustains
at most a core's worth (1,000 ms) of its CPU per upload per second; one worker process of one thread classifies at
most a core's worth of the model's and its own CPU per image. How many workers one web process can feed is the
ratio of the two. Both are this machine's cores: an instance type's own cores scale both alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.bare import Bare
from bench.shape_stacks import ShapeStacks
from bench.stack_run import StackRun
from bench.table import Setup
from deploy.account.plan import Options

DESCRIPTIONS = {
    "local": "make run's defaults: disk storage, SQLite",
    "production": "what AWS runs: S3 storage (the embedded endpoint), PostgreSQL",
}
# What issue 36 holds each shape to; a missing entry is no target.
TARGETS: dict[str, dict[str, str]] = {
    "vs_torch": {"production": "> 1.0"},
    "vs_own": {"local": ">= 0.65"},
    "ours": {"local": "<= 0.2", "production": "<= 0.3"},
    "beyond": {"production": "<= 0.15"},
    "labels": {"local": ">= 98 %", "production": ">= 98 %"},
}
WIDTH = 12
WEB_HOST = Options.web_instance_type  # provision's default web host


@dataclass(frozen=True)
class Yardstick:
    """One shape's bare model: torch eager's and the stack's own backend's, and the latter's CPU per image."""

    bare: dict[str, Bare]
    backend: str

    @property
    def torch(self) -> Bare:
        return self.bare["torch"]

    @property
    def own(self) -> Bare:
        return self.bare[self.backend]

    @property
    def model_ms(self) -> float:
        return self.own.cpu_ms_per_image


def render(setup: Setup, stacks: dict[str, ShapeStacks], expected: dict[str, str]) -> list[str]:
    """The table's lines: a header naming the shapes, a row per measure, its targets per shape at the end. Each
    shape's ratios are set against the bare model measured either side of its run (ShapeStacks.bare)."""
    shapes = list(stacks)
    own_backend = setup.backend
    yardsticks = {shape: Yardstick(found.bare, own_backend) for shape, found in stacks.items()}  # means, once

    def row(name: str, whose: str, value: Callable[[StackRun, Yardstick], float], form: str,
            target: str = "") -> tuple[str, str, list[str], str]:  # fmt: skip
        figures = [form.format(value(found.runs[0], yardsticks[shape])) for shape, found in stacks.items()]
        targets = TARGETS.get(target, {})
        held = ", ".join(f"{shape} {targets[shape]}" for shape in shapes if shape in targets)
        return name, whose, figures, held

    def sides(found: ShapeStacks) -> str:
        before, after = (side[own_backend].cpu_ms_per_image for side in (found.before, found.after))
        return f"{before:.1f}/{after:.1f}"

    rows = [
        row("stack, images/s", "", lambda r, y: r.images_per_second, "{:.1f}"),
        row("  / torch eager bare best", "", lambda r, y: r.images_per_second / y.torch.images_per_second, "{:.2f}",
            "vs_torch"),
        row(f"  / {own_backend} bare best", "", lambda r, y: r.images_per_second / y.own.images_per_second, "{:.2f}",
            "vs_own"),
        row("CPU ms per image: the model", "the model's", lambda r, y: y.model_ms, "{:.1f}"),
        ("  measured before/after the stack", "the model's", [sides(found) for found in stacks.values()], ""),
        row("  web tier", "ours", lambda r, y: r.cpu_ms_per_image["web"], "{:.2f}"),
        row("  results consumer", "ours", lambda r, y: r.cpu_ms_per_image["results-consumer"], "{:.2f}"),
        row("  sweeper", "ours", lambda r, y: r.cpu_ms_per_image["sweeper"], "{:.2f}"),
        row("  workers beyond the model", "ours", lambda r, y: r.cpu_ms_per_image["workers"] - y.model_ms, "{:.2f}"),
        row("  ours in all", "ours", lambda r, y: r.ours_ms(y.model_ms), "{:.2f}"),
        row("  endpoint (moto)", "AWS's in production", lambda r, y: r.cpu_ms_per_image["aws-endpoint"], "{:.2f}"),
        row("  callers", "the load generator's", lambda r, y: r.callers_cpu_ms_per_image, "{:.2f}"),
        row("our CPU / the model's", "", lambda r, y: r.ours_ms(y.model_ms) / y.model_ms, "{:.2f}", "ours"),
        row("workers beyond the model / the model's", "", lambda r, y: (r.cpu_ms_per_image["workers"] - y.model_ms)
            / y.model_ms, "{:.2f}", "beyond"),
        row("uploads/s one web process sustains", "", lambda r, y: 1000 / r.cpu_ms_per_image["web"], "{:.0f}"),
        row("worker hosts one web host feeds", "", lambda r, y: r.cpu_ms_per_image["workers"]
            / r.cpu_ms_per_image["web"], "{:.1f}"),
        row("labels as the bare torch model", "", lambda r, y: r.agreeing_percent(expected), "{:.1f} %", "labels"),
    ]  # fmt: skip
    name_width = max(len(name) for name, *_ in rows)
    whose_width = max(len(whose) for _, whose, *_ in rows)
    head = f"{'':<{name_width}}  {'whose CPU':<{whose_width}}  " + "  ".join(f"{s:>{WIDTH}}" for s in shapes)
    lines = [
        f"The stack in each shape: {setup.processes} fixed workers on {setup.backend}, {setup.requests} synchronous "
        f"requests at concurrency {setup.concurrency}, every fast path on, the shipped log level and format; "
        f"CPU from /proc, every answer's label compared; the bare model measured just before and just after each "
        f"shape's run, and their mean its yardstick.",
        head + "  target",
    ]
    for name, whose, figures, held in rows:
        cells = "  ".join(f"{figure:>{WIDTH}}" for figure in figures)
        lines.append(f"{name:<{name_width}}  {whose:<{whose_width}}  {cells}  {held}".rstrip())
    lines.append(
        f"A web host (provision's default, {WEB_HOST}) runs one web process, a worker host one worker process: the "
        "uploads a web process sustains are a core's 1,000 ms over the web tier's CPU per upload, the worker hosts "
        "it feeds a worker's CPU per image over the web's."
    )
    return lines
