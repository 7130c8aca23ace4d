"""Our Pillow + numpy preprocessing against torchvision's transforms, which it replaces: the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms

from classifier.images import decode
from classifier.inference.preprocess import EFFICIENTNET_LITE, IMAGENET_STANDARD, Preprocessing
from tests.conftest import IMAGES_DIR

TORCHVISION_MODE = {
    Image.Resampling.BICUBIC: transforms.InterpolationMode.BICUBIC,
    Image.Resampling.BILINEAR: transforms.InterpolationMode.BILINEAR,
}


def torchvision_pipeline(preprocessing: Preprocessing) -> transforms.Compose:
    return transforms.Compose(
        [
            transforms.Resize(preprocessing.resize, interpolation=TORCHVISION_MODE[preprocessing.interpolation]),
            transforms.CenterCrop(preprocessing.crop),
            transforms.ToTensor(),
            transforms.Normalize(preprocessing.mean, preprocessing.std),
        ]
    )


@pytest.mark.parametrize("preprocessing", [EFFICIENTNET_LITE, IMAGENET_STANDARD], ids=["lite", "imagenet"])
def test_the_course_images_give_torchvisions_numbers(preprocessing: Preprocessing) -> None:
    reference = torchvision_pipeline(preprocessing)
    paths = sorted(IMAGES_DIR.glob("*.JPEG"))
    assert len(paths) == 100
    for path in paths:
        image = decode(path.read_bytes()).image
        np.testing.assert_array_equal(preprocessing.array(image), reference(image).numpy(), err_msg=path.name)


@pytest.mark.parametrize("size", [(64, 48), (48, 64), (256, 256), (257, 1000), (1000, 257), (225, 999), (256, 255)])
def test_odd_sizes_crop_where_torchvision_does(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(size))
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    expected = torchvision_pipeline(EFFICIENTNET_LITE)(image).numpy()
    np.testing.assert_array_equal(EFFICIENTNET_LITE.array(image), expected)
