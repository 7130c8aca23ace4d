"""Where a benchmark run keeps its stack's state: a new folder under the project's var folder, as `make run` does.

A run's database, stored images, results and logs all live there. Not in the system's temporary folder: on the
development machines, creating a file or a folder under /tmp cost about 0.25 ms of CPU, ten times what it cost
under the project's folder on the same disk, and the local stack creates two of each per image (the upload and its
result), all of it counted in the table as the service's own CPU. Production stores objects in S3 and has no such
cost; `make run` keeps its state in var/.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scratch_folder(prefix: str) -> Path:
    """A new, empty folder for one run, under VAR_DIR/bench (VAR_DIR as the settings read it: var/ by default)."""
    base = Path(os.environ.get("VAR_DIR") or ROOT / "var") / "bench"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def stack_folder() -> Path:
    """A new folder for one more stack of the same run (its logs, the endpoint's access log that the SQS calls are
    counted from), under the run's VAR_DIR: each stack reads only its own processes' lines."""
    return Path(tempfile.mkdtemp(prefix="stack-", dir=os.environ["VAR_DIR"]))
