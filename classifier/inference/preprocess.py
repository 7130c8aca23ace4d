"""From a decoded image to the array a model was trained on, with Pillow and numpy only.

Both backends take these arrays, so a worker running ONNX Runtime never imports torch. The steps are torchvision's
`Resize(short side)`, `CenterCrop`, `ToTensor` and `Normalize`, computed the same way (the same Pillow resize, the
same size and offset rounding, float32 arithmetic in the same order); a test holds them equal to torchvision's
output on the 100 course images.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Preprocessing:
    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: Image.Resampling = Image.Resampling.BICUBIC

    def array(self, image: Image.Image) -> np.ndarray:
        """An RGB image as a float32 (3, crop, crop) array, normalised."""
        width, height = image.size
        short, long = (width, height) if width <= height else (height, width)
        scaled_long = int(self.resize * long / short)  # torchvision truncates, as here
        size = (self.resize, scaled_long) if width <= height else (scaled_long, self.resize)
        if size != image.size:
            image = image.resize(size, self.interpolation)
        left = round((size[0] - self.crop) / 2.0)
        top = round((size[1] - self.crop) / 2.0)
        if left < 0 or top < 0:
            raise ValueError(f"resize {self.resize} is smaller than crop {self.crop}")
        pixels = np.asarray(image.crop((left, top, left + self.crop, top + self.crop)), dtype=np.uint8)
        scaled = pixels.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
        return np.ascontiguousarray((scaled - self._mean) / self._std)

    @cached_property
    def _mean(self) -> np.ndarray:
        return np.asarray(self.mean, dtype=np.float32).reshape(3, 1, 1)

    @cached_property
    def _std(self) -> np.ndarray:
        return np.asarray(self.std, dtype=np.float32).reshape(3, 1, 1)


# What the Lite0 checkpoint was trained with: measured here, mean = std = 0.5 ranks the right class first on all
# 21 hand-labelled images, where ImageNet's usual statistics get 10 of 21.
EFFICIENTNET_LITE = Preprocessing(resize=256, crop=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
IMAGENET_STANDARD = Preprocessing(
    resize=256,
    crop=224,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    interpolation=Image.Resampling.BILINEAR,
)
