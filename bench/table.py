"""The benchmark's table: every row of one run, the stack's rows in two figure columns (every fast path on, then
FAST_PATHS off), so that what the fast paths earn is read within one run, against the same baseline, as every
other ratio here is. A note that quotes a stack figure quotes both where they differ ("on / off")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.backlog import Drain
from bench.bare import Bare
from bench.stack_run import StackRun
from bench.startup import SEED_TABLE

Row = tuple[str, tuple[str, ...], str]  # name, one figure or two (on, off), note
COLUMNS = ("fast paths on", "off")
FIGURE_WIDTH = 14


@dataclass(frozen=True)
class Setup:
    """What the run was asked for, as the rows' names and notes say it."""

    processes: int
    concurrency: int
    requests: int
    backend: str  # the one `auto` picked: the model's own cost is its bare best
    backlog: int


def both(values: Sequence[str]) -> str:
    """One value where the columns agree, else `on / off`."""
    return values[0] if len(set(values)) == 1 else " / ".join(values)


def bare_rows(setup: Setup, bare: dict[str, Bare]) -> list[Row]:
    torch = bare["torch"]
    return [
        ("bare best, torch eager", (f"{torch.images_per_second:6.1f} images/s",),
         f"{setup.processes} processes x 1 thread; {torch.cpu_ms_per_image:.1f} ms CPU per image"),
        *((f"bare best, {name}", (f"{run.images_per_second:6.1f} images/s",),
           f"{run.cpu_ms_per_image:.1f} ms CPU per image" + (" (the model's own cost)" if name == setup.backend
                                                              else ""))
          for name, run in bare.items() if name != "torch"),
    ]  # fmt: skip


def stack_rows(
    setup: Setup,
    bare: dict[str, Bare],
    runs: tuple[StackRun, StackRun],
    batches: dict[int, float],
    expected: dict[str, str],
) -> list[Row]:
    """The stack's rows, each with its on and off figure; the batch cost, the bare model's, sits among them.
    `expected`: each image's label from the bare torch model, by file name."""
    from common.percentiles import percentiles

    torch, own = bare["torch"], bare[setup.backend]
    model_ms = own.cpu_ms_per_image

    def figures(form: str, values: Sequence[float]) -> tuple[str, ...]:
        return tuple(form.format(value) for value in values)

    cpu = [run.cpu_ms_per_image for run in runs]
    ours = [run.ours_ms(model_ms) for run in runs]
    # The same with the model's CPU as the workers measured it in the stack: what the shared cores add to the model's
    # step (moto and the load generator share them here; in production neither does) counts as the model's.
    in_stack = [run.model_cpu_ms_in_stack for run in runs]
    ours_in_stack = [mine - (model - model_ms) for mine, model in zip(ours, in_stack, strict=True)]
    # Every answer of the burst against the bare model's label for its image, as a share of 100.
    agree = [run.agreeing_percent(expected) for run in runs]
    speed = [run.images_per_second for run in runs]
    added = [percentiles([s * 1000 - own.single_image_ms for s in run.sequential_seconds], [50, 95]) for run in runs]
    return [
        (f"stack, sync at concurrency {setup.concurrency}", figures("{:6.1f} images/s", speed),
         f"{setup.processes} workers on {both([run.backend for run in runs])}; {setup.requests} requests, warm"),
        ("  / bare best torch eager", figures("{:6.2f}", [s / torch.images_per_second for s in speed]),
         "target >= 0.7 (goal 1.0)"),
        (f"  / bare best {own.backend}", figures("{:6.2f}", [s / own.images_per_second for s in speed]),
         "goal >= 0.6"),
        ("CPU ms per image: web", figures("{:6.1f}", [c["web"] for c in cpu]), "target < 3"),
        ("  results consumer", figures("{:6.1f}", [c["results-consumer"] for c in cpu]), "target < 1"),
        ("  sweeper", figures("{:6.1f}", [c["sweeper"] for c in cpu]), ""),
        ("  workers", figures("{:6.1f}", [c["workers"] for c in cpu]), f"of which the model {model_ms:.1f}"),
        ("  workers beyond the model", figures("{:6.1f}", [c["workers"] - model_ms for c in cpu]),
         f"the model's own step took {both([f'{ms:.1f}' for ms in in_stack])} ms of CPU in the stack (the workers' "
         f"measure) against {model_ms:.1f} ms alone: what the shared cores add lands here"),
        ("  endpoint (moto)", figures("{:6.1f}", [c["aws-endpoint"] for c in cpu]), "AWS's, in production"),
        ("  the callers (this process)", figures("{:6.1f}", [r.callers_cpu_ms_per_image for r in runs]),
         "the load generator, on the same cores"),
        ("our CPU / the model's", figures("{:6.2f}", [mine / model_ms for mine in ours]),
         f"{both([f'{ms:.1f}' for ms in ours])} ms (web + results + sweeper + workers beyond the model); "
         "target <= 0.3"),
        ("  the model's as measured in the stack",
         figures("{:6.2f}", [mine / model for mine, model in zip(ours_in_stack, in_stack, strict=True)]),
         f"{both([f'{ms:.1f}' for ms in ours_in_stack])} ms against the model's "
         f"{both([f'{ms:.1f}' for ms in in_stack])}: what the shared cores add to its step counted as the model's"),
        ("SQS calls per image", figures("{:6.2f}", [r.sqs_calls_per_image for r in runs]), "target <= 2 at depth"),
        (f"forward per image, batch 1 / {max(batches)} ({setup.backend})", (f"{batches[1]:5.1f} ms",),
         " / ".join(f"batch {size}: {ms:.1f} ms" for size, ms in batches.items())
         + ("; batches do not pay here: workers classify one image at a time" if batches[max(batches)] >= batches[1]
            else "")),
        ("labels as the bare torch model", figures("{:6.1f} %", agree),
         f"every answer of the burst ({both([str(len(run.labels)) for run in runs])}); target >= 98 %"),
        ("added latency, one at a time", figures("{:6.0f} ms", [p50 for p50, _ in added]),
         f"p50 (p95 {both([f'{p95:.0f}' for _, p95 in added])} ms) over the bare {own.single_image_ms:.0f} ms of one "
         "image; target p50 < 30 ms"),
        ("one worker's memory", figures("{:6.0f} MiB", [r.worker_pss_mib for r in runs]),
         f"PSS of all its processes (RSS summed {both([f'{r.worker_rss_mib:.0f}' for r in runs])} MiB); target < 500"),
    ]  # fmt: skip


def startup_rows(setup: Setup, cold: dict[str, float], zero: dict[int, float], drain: Drain | None) -> list[Row]:
    rows: list[Row] = [(f"cold start, {name}", (f"{seconds:6.1f} s",), "worker process start to the first answer; "
                        "target < 2 s" if name == setup.backend else "worker process start to the first answer")
                       for name, seconds in cold.items()]  # fmt: skip
    rows += [(f"from zero, {n} images", (f"{seconds:6.1f} s",), f"the seed: {SEED_TABLE[n]:.0f} s"
              + ("; target <= 8 s" if n == 100 else "") if n in SEED_TABLE else "")
             for n, seconds in zero.items()]  # fmt: skip
    if drain is not None:
        rows.append(
            (
                f"results consumer, {setup.backlog} waiting",
                (f"{drain.results_per_second:6.0f} results/s",),
                f"{drain.cpu_ms_per_result:.2f} ms CPU and {drain.sqs_calls_per_result:.2f} SQS calls per result",
            )
        )
    return rows


def legend(here: frozenset[str], every: frozenset[str]) -> str:
    """What the two columns are, and which fast paths the one-figure stacks (cold start, from zero, backlog) ran."""
    described = "all on" if here == every else "all off" if not here else "on: " + ", ".join(sorted(here))
    return (
        "Two figures: the stack with every fast path on, then with FAST_PATHS off (every library's stock path), the "
        f"same requests. One figure: no stack, or the stack with FAST_PATHS as set here ({described})."
    )


def render(rows: list[Row]) -> list[str]:
    """The header naming the two columns, then one line per row; a row of one figure leaves the second empty."""
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'':<{width}}  {COLUMNS[0]:>{FIGURE_WIDTH}}  {COLUMNS[1]:>{FIGURE_WIDTH}}"]
    for name, figures, note in rows:
        on, off = (*figures, "")[:2]
        lines.append(f"{name:<{width}}  {on:>{FIGURE_WIDTH}}  {off:>{FIGURE_WIDTH}}  {note}".rstrip())
    return lines


def earned_together(runs: tuple[StackRun, StackRun], model_ms: float) -> str:
    """The fast paths' worth in one line: our CPU per image with FAST_PATHS off less with every one on."""
    on, off = (run.ours_ms(model_ms) for run in runs)
    share = (off - on) / off * 100 if off > 0 else float("nan")
    return (f"The fast paths together earn {off - on:.1f} ms of our CPU per image: {off:.1f} ms with FAST_PATHS off, "
            f"{on:.1f} ms with every one on, {share:.0f} % of the off figure.")  # fmt: skip
