"""The image classifier: loaded once per process, then bytes in, top-5 out, on the backend the settings name.

`torch` is the reference (eager PyTorch); `torchscript` the same module traced and frozen; `onnx` runs ONNX Runtime
on a graph exported from the same weights; `auto` takes ONNX Runtime where it is installed and torch otherwise. All
see the same preprocessed arrays, and softmax and top-5 are computed here, once, for all.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol

import numpy as np

from classifier.images import decode
from classifier.inference import BACKENDS, DEFAULT_MODEL_CACHE_DIR, catalog
from classifier.inference.export import ExportFailed, ensure_exported
from classifier.inference.labels import imagenet_labels

logger = logging.getLogger(__name__)

TOP_K = 5


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
    inference_ms: float  # the forward pass, wall time
    cpu_ms: float | None = None  # decode, preprocess and forward, this process's CPU (set by `classify`)

    @property
    def best(self) -> Guess:
        return self.top5[0]


class Backend(Protocol):
    name: str  # recorded after the weights' version: which runtime gave this result

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a float32 (N, 3, H, W) batch."""
        ...


def onnxruntime_installed() -> bool:
    return find_spec("onnxruntime") is not None


def choose_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown classifier backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "onnx" if onnxruntime_installed() else "torch"
    if backend == "onnx" and not onnxruntime_installed():
        raise ValueError("the onnx classifier backend needs the onnxruntime package: install it, or choose auto")
    return backend


class ImageClassifier:
    """An ImageNet-1k model with its preprocessing (see `catalog.resolve` for the architectures)."""

    def __init__(
        self,
        arch: str,
        weights: Path | None = None,
        *,
        threads: int = 1,
        channels_last: bool = True,
        backend: str = "torch",
        cache_dir: Path = DEFAULT_MODEL_CACHE_DIR,
    ) -> None:
        started = time.perf_counter()
        spec = catalog.resolve(arch, weights)
        self.model_name = spec.name
        self.preprocessing = spec.preprocessing
        self.backend = choose_backend(backend)
        try:
            self._forward = _load(self.backend, spec, threads=threads, channels_last=channels_last, cache_dir=cache_dir)
        except ExportFailed as exc:
            if backend != "auto":
                raise
            # `auto` asked for the fastest runtime that works here, and the reference always does.
            logger.warning("the ONNX graph could not be made (%s); running the torch reference instead", exc)
            self.backend = "torch"
            self._forward = _load("torch", spec, threads=threads, channels_last=channels_last, cache_dir=cache_dir)
        self.model_version = f"{spec.version} {self._forward.name}"
        self._labels = imagenet_labels()
        # A session or module is not safe to call from two threads at once; a threaded pool shares one classifier.
        self._lock = threading.Lock()
        logger.info("loaded %s (%s) in %.1f s", self.model_name, self.model_version, time.perf_counter() - started)

    def preprocess(self, data: bytes, max_pixels: int | None = None) -> np.ndarray:
        return self.preprocessing.array(decode(data, max_pixels).image)

    def classify(self, data: bytes, max_pixels: int | None = None) -> Prediction:
        # The process's CPU, not the thread's: a forward on several threads runs on the runtime's own as well.
        cpu_started = time.process_time()
        prediction = self.classify_batch([self.preprocess(data, max_pixels)])[0]
        return replace(prediction, cpu_ms=(time.process_time() - cpu_started) * 1000)

    def classify_batch(self, arrays: list[np.ndarray]) -> list[Prediction]:
        batch = np.stack(arrays)
        started = time.perf_counter()
        with self._lock:
            logits = self._forward(batch)
        elapsed_ms = (time.perf_counter() - started) * 1000 / len(arrays)
        probabilities = softmax(logits)
        best = np.argsort(-probabilities, axis=1, kind="stable")[:, :TOP_K]
        return [
            Prediction(
                top5=tuple(Guess(int(i), self._labels[int(i)], float(row[i])) for i in indices),
                model_name=self.model_name,
                model_version=self.model_version,
                inference_ms=elapsed_ms,
            )
            for row, indices in zip(probabilities, best, strict=True)
        ]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _load(backend: str, spec: catalog.ModelSpec, *, threads: int, channels_last: bool, cache_dir: Path) -> Backend:
    if backend in ("torch", "torchscript"):
        from classifier.inference.torch_backend import TorchBackend

        return TorchBackend(spec, threads=threads, channels_last=channels_last, script=backend == "torchscript")
    from classifier.inference.onnx_backend import OnnxBackend

    return OnnxBackend(ensure_exported(spec, cache_dir), threads=threads)
