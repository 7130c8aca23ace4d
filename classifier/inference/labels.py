"""The 1000 ImageNet class names, in the spelling the CSE546 clients expect (index = class id)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_LABELS_FILE = Path(__file__).with_name("imagenet_simple_labels.json")


@cache
def imagenet_labels() -> tuple[str, ...]:
    labels = json.loads(_LABELS_FILE.read_text(encoding="utf-8"))
    if len(labels) != 1000:
        raise ValueError(f"{_LABELS_FILE} holds {len(labels)} labels, expected 1000")
    return tuple(labels)
