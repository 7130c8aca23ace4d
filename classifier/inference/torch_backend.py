"""PyTorch backends: `torch`, the reference (the module itself, eager, in eval mode), and `torchscript`, the same
module traced and frozen at load (constants folded, batch norms fused into convolutions): the pinned packages'
own faster path."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from classifier.inference import efficientnet
from classifier.inference.catalog import EFFICIENTNET_LITE0, ModelSpec


def build_module(spec: ModelSpec) -> nn.Module:
    if spec.arch == EFFICIENTNET_LITE0:
        return efficientnet.build(spec.weights)
    import torchvision

    model = torchvision.models.get_model(spec.name, weights=None, num_classes=1000)
    model.load_state_dict(torch.load(spec.weights, map_location="cpu", weights_only=True), strict=True)
    return model


class TorchBackend:
    name = f"torch-{torch.__version__}"

    def __init__(self, spec: ModelSpec, *, threads: int, channels_last: bool = True, script: bool = False) -> None:
        torch.set_num_threads(threads)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = build_module(spec).eval().to(memory_format=self.memory_format)
        if script:
            self.name = f"torchscript-{torch.__version__}"
            sample = torch.zeros(1, 3, spec.preprocessing.crop, spec.preprocessing.crop)
            # TorchScript is deprecated in favour of torch.compile, whose default backend compiles C++ at each start
            # (a toolchain on every worker image); the pinned torch still traces and freezes, in about a second.
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                traced = torch.jit.trace(model, sample.contiguous(memory_format=self.memory_format))
                model = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
        self._model = model

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Logits for a float32 (N, 3, H, W) batch."""
        pixels = torch.from_numpy(batch).contiguous(memory_format=self.memory_format)
        with torch.inference_mode():
            return self._model(pixels).numpy()
