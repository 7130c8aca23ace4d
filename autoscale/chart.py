"""A PNG chart of a simulation: queue depth and workers over time, one panel each per policy (Pillow only)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from autoscale.simulator import Report

WIDTH, PANEL, MARGIN = 900, 180, 50
COLOURS = {"queue": (200, 80, 40), "workers": (40, 90, 200)}


def draw(reports: list[Report], title: str, path: Path) -> None:
    height = MARGIN + len(reports) * 2 * (PANEL + MARGIN)
    image = Image.new("RGB", (WIDTH, height), "white")
    pen = ImageDraw.Draw(image)
    pen.text((MARGIN, 15), title, fill="black")
    top = MARGIN
    for report in reports:
        for index, label in ((1, "queue"), (2, "workers")):
            _panel(pen, report, index, f"{report.policy} ({report.capacity}): {label}", COLOURS[label], top)
            top += PANEL + MARGIN
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _panel(pen: ImageDraw.ImageDraw, report: Report, column: int, label: str, colour: tuple, top: int) -> None:
    left, right, bottom = MARGIN, WIDTH - MARGIN, top + PANEL
    pen.rectangle((left, top, right, bottom), outline=(160, 160, 160))
    points = report.timeline
    if not points:
        return
    end = max(points[-1][0], 1e-9)
    peak = max(max(point[column] for point in points), 1)
    pen.text((left, top - 14), f"{label} (peak {peak}, {end:,.0f} s)", fill="black")
    line = [(left + (right - left) * t / end, bottom - (bottom - top) * value / peak)
            for t, *values in points for value in [values[column - 1]]]  # fmt: skip
    if len(line) > 1:
        pen.line(line, fill=colour, width=2)
