"""The ImageNet network families people deploy on a Raspberry Pi, as published, for tests and benchmarks.

Each family follows its paper's definition at width 1.0 for 224x224 RGB inputs and 1000 classes
(the layer tables torchvision also implements; their parameter counts are checked in the tests),
written in the project's own code in ``edgeconv.zoo.nets`` where each module cites its paper:
MobileNetV2, MobileNetV3-Small, EfficientNet-B0, MnasNet 1.0, RegNetX-400MF, ResNet-18,
SqueezeNet 1.1 and ShuffleNetV2 1.0x.

``family_model(name, seed)`` gives a model with seeded random weights whose BatchNorm statistics
were gathered on seeded structured images (``structured_images``), in eval mode;
``export_family(name, path, seed)`` writes it as ``.pt2``, ``.pt`` or ``.onnx``. Both are
deterministic from the seed. The weights are untrained: these models exercise import, compression,
code generation and bit-exactness at the scale of real deployments, not accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .export import export_module
from .nets.efficientnet import EfficientNetB0
from .nets.layers import IMAGENET_CLASSES
from .nets.mnasnet import MnasNet
from .nets.mobilenet import MobileNetV2, MobileNetV3Small
from .nets.regnet import RegNetX400MF
from .nets.resnet import ResNet18
from .nets.shufflenet import ShuffleNetV2
from .nets.squeezenet import SqueezeNet11

INPUT_SHAPE_224 = (1, 3, 224, 224)

FAMILIES: dict = {
    "mobilenetv2": MobileNetV2,
    "mobilenetv3_small": MobileNetV3Small,
    "efficientnet_b0": EfficientNetB0,
    "mnasnet": MnasNet,
    "regnetx_400mf": RegNetX400MF,
    "resnet18": ResNet18,
    "squeezenet1_1": SqueezeNet11,
    "shufflenetv2": ShuffleNetV2,
}


# --- Seeded weights and BatchNorm statistics ---------------------------------------------------

def structured_images(n: int, input_shape: tuple = INPUT_SHAPE_224, seed: int = 0) -> np.ndarray:
    """``n`` float32 images shaped like ``input_shape`` (N replaced), about zero mean and unit spread.

    Each channel is a smooth random field (8x8 Gaussian noise, bilinearly enlarged) plus a little
    pixel noise: spatially correlated like normalised photographs, so BatchNorm statistics and
    calibration ranges gathered on them resemble those of real data more than white noise does.
    """
    _, channels, height, width = input_shape
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.standard_normal((n, channels, 8, 8)).astype(np.float32))
    smooth = nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    fine = torch.from_numpy(rng.standard_normal((n, channels, height, width)).astype(np.float32))
    return (smooth + 0.25 * fine).numpy()


def family_model(name: str, seed: int = 0, input_shape: tuple = INPUT_SHAPE_224,
                 num_classes: int = IMAGENET_CLASSES, batches: int = 4, batch_size: int = 8) -> nn.Module:
    """Family ``name`` with weights drawn from ``seed`` and BatchNorm statistics gathered on data.

    The model runs ``batches`` batches of ``structured_images`` with its BatchNorm layers (only)
    in train mode and cumulative averaging (momentum None), so their running mean and variance are
    those of the data, then returns in eval mode. The global RNG state is left as it was.
    """
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FAMILIES[name](num_classes=num_classes)
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum = None
            m.train()
    images = structured_images(batches * batch_size, input_shape, seed)
    with torch.no_grad():
        for i in range(batches):
            model(torch.from_numpy(images[i * batch_size:(i + 1) * batch_size]))
    return model.eval()


def export_family(name: str, path, seed: int = 0, input_shape: tuple = INPUT_SHAPE_224,
                  num_classes: int = IMAGENET_CLASSES) -> Path:
    """Write ``family_model(name, seed, ...)`` to ``path`` (``.pt2``, ``.pt`` or ``.onnx``)."""
    return export_module(family_model(name, seed, input_shape, num_classes), path, input_shape)
