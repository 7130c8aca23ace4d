"""The model: EfficientNet-Lite0 on ImageNet-1k, loaded once per process from settings.

torch is imported on first use only: the web tier and the results consumer import the task module too, and must
not pay for torch (seconds of start-up, hundreds of MiB) they never use.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from classifier.inference.model import ImageClassifier

_loaded: ImageClassifier | None = None
_loading = threading.Lock()


def get_classifier() -> ImageClassifier:
    """The process's classifier, built from settings on first use."""
    global _loaded
    with _loading:
        if _loaded is None:
            from django.conf import settings

            from classifier.inference.model import ImageClassifier

            weights = Path(settings.CLASSIFIER_WEIGHTS) if settings.CLASSIFIER_WEIGHTS else None
            _loaded = ImageClassifier(
                settings.CLASSIFIER_ARCH,
                weights,
                threads=settings.TORCH_THREADS,
                channels_last=settings.CLASSIFIER_CHANNELS_LAST,
            )
        return _loaded
