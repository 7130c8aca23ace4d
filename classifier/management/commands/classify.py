"""`manage.py classify PATH...`: the bare model on local files, no service in between, as `name,label` CSV.

What the service should answer for each image: `manage.py classify DIR > expected.csv`, then
`manage.py loadtest ... --expected expected.csv` checks a deployment against the model itself.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.images import IMAGE_SUFFIXES, UnreadableImage
from classifier.inference import get_classifier


class Command(BaseCommand):
    help = "Classify local image files (or folders of them) with the model and print name,label CSV."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="image files or folders")
        parser.add_argument("--top5", action="store_true", help="add the top 5 as label:probability columns")

    def handle(self, *args: Any, **options: Any) -> None:
        files = _image_files(options["paths"])
        if not files:
            raise CommandError("no images among the given paths")
        classifier = get_classifier()
        writer = csv.writer(self.stdout)
        failures = 0
        for path in files:
            try:
                prediction = classifier.classify(path.read_bytes())
            except (OSError, UnreadableImage) as exc:
                self.stderr.write(f"{path}: {exc}")
                failures += 1
                continue
            row: list[str] = [path.name, prediction.best.label]
            if options["top5"]:
                row += [f"{guess.label}:{guess.probability:.4f}" for guess in prediction.top5]
            writer.writerow(row)
        if failures:
            raise CommandError(f"{failures} of {len(files)} file(s) could not be classified")


def _image_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.exists():
            files.append(path)
        else:
            raise CommandError(f"{path} does not exist")
    return files
