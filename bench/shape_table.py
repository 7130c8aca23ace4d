"""The two shapes side by side: the stack with every fast path on, in the local shape and in production's, one
column each, each row saying whose CPU it is and what it is held to.

The web tier's capacity is read off its CPU per upload: one web process is one Python interpreter, so it sustains
at most a core's worth (1,000 ms) of its CPU per upload per second; one worker process of one thread classifies at
most a core's worth of the model's and its own CPU per image. How many workers one web process can feed is the
ratio of the two. Both are this machine's cores: an instance type's own cores scale both alike.
"""

from __future__ import annotations

from bench.bare import Bare
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


def render(setup: Setup, bare: dict[str, Bare], runs: dict[str, StackRun], expected: dict[str, str]) -> list[str]:
    """The table's lines: a header naming the shapes, a row per measure, its targets per shape at the end."""
    torch, own = bare["torch"], bare[setup.backend]
    model_ms = own.cpu_ms_per_image
    shapes = list(runs)

    def row(name: str, whose: str, value: object, form: str, target: str = "") -> tuple[str, str, list[str], str]:
        figures = [form.format(value(run)) for run in runs.values()]  # type: ignore[operator]
        targets = TARGETS.get(target, {})
        held = ", ".join(f"{shape} {targets[shape]}" for shape in shapes if shape in targets)
        return name, whose, figures, held

    rows = [
        row("stack, images/s", "", lambda r: r.images_per_second, "{:.1f}"),
        row("  / torch eager bare best", "", lambda r: r.images_per_second / torch.images_per_second, "{:.2f}",
            "vs_torch"),
        row(f"  / {own.backend} bare best", "", lambda r: r.images_per_second / own.images_per_second, "{:.2f}",
            "vs_own"),
        row("CPU ms per image: the model", "the model's", lambda r: model_ms, "{:.1f}"),
        row("  web tier", "ours", lambda r: r.cpu_ms_per_image["web"], "{:.2f}"),
        row("  results consumer", "ours", lambda r: r.cpu_ms_per_image["results-consumer"], "{:.2f}"),
        row("  sweeper", "ours", lambda r: r.cpu_ms_per_image["sweeper"], "{:.2f}"),
        row("  workers beyond the model", "ours", lambda r: r.cpu_ms_per_image["workers"] - model_ms, "{:.2f}"),
        row("  ours in all", "ours", lambda r: r.ours_ms(model_ms), "{:.2f}"),
        row("  endpoint (moto)", "AWS's in production", lambda r: r.cpu_ms_per_image["aws-endpoint"], "{:.2f}"),
        row("  callers", "the load generator's", lambda r: r.callers_cpu_ms_per_image, "{:.2f}"),
        row("our CPU / the model's", "", lambda r: r.ours_ms(model_ms) / model_ms, "{:.2f}", "ours"),
        row("workers beyond the model / the model's", "", lambda r: (r.cpu_ms_per_image["workers"] - model_ms)
            / model_ms, "{:.2f}", "beyond"),
        row("uploads/s one web process sustains", "", lambda r: 1000 / r.cpu_ms_per_image["web"], "{:.0f}"),
        row("worker hosts one web host feeds", "", lambda r: r.cpu_ms_per_image["workers"]
            / r.cpu_ms_per_image["web"], "{:.1f}"),
        row("labels as the bare torch model", "", lambda r: r.agreeing_percent(expected), "{:.1f} %", "labels"),
    ]  # fmt: skip
    name_width = max(len(name) for name, *_ in rows)
    whose_width = max(len(whose) for _, whose, *_ in rows)
    head = f"{'':<{name_width}}  {'whose CPU':<{whose_width}}  " + "  ".join(f"{s:>{WIDTH}}" for s in shapes)
    lines = [
        f"The stack in each shape: {setup.processes} fixed workers on {setup.backend}, {setup.requests} synchronous "
        f"requests at concurrency {setup.concurrency}, every fast path on, the shipped log level and format; "
        f"CPU from /proc, every answer's label compared.",
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
