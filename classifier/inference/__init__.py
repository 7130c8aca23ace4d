"""The model: EfficientNet-Lite0 on ImageNet-1k, loaded once per process from settings.

Neither torch nor ONNX Runtime is imported until first use: the web tier and the results consumer import the task
module too, and must not pay for a model runtime (seconds of start-up, hundreds of MiB) they never use.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from classifier.inference.model import ImageClassifier

# `auto`: ONNX Runtime where it is installed, torch (the reference, eager) otherwise. `torchscript`: traced and frozen.
BACKENDS = ("auto", "torch", "torchscript", "onnx")
# Exported ONNX graphs live beside the packages they were made from (`make venv` and the worker image's bake
# export there; a worker exports on first start if they did not): every VAR_DIR of one install shares them.
DEFAULT_MODEL_CACHE_DIR = Path(sys.prefix) / "share" / "classifier-models"

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
                backend=settings.CLASSIFIER_BACKEND,
                cache_dir=Path(settings.MODEL_CACHE_DIR),
            )
        return _loaded
