"""Where the benchmarks find the project and the course's 100 images: beside the checkout, as the tests do
(`TEST_DATA_DIR` moves them), so that every script reads the same images whatever folder it is started from."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = Path(os.environ.get("TEST_DATA_DIR", ROOT.parent / "shared" / "data")) / "imagenet-100"
