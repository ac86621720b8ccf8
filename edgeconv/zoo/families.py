"""The ImageNet network families people deploy on a Raspberry Pi, as published, for tests and benchmarks.

Each class follows its paper's definition at width 1.0 for 224x224 RGB inputs and 1000 classes
(the layer table torchvision also implements), written here in the project's own code:

- ``mobilenetv2``: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018;
- ``resnet18``: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.

``family_model(name, seed)`` gives a model with seeded random weights whose BatchNorm statistics
were gathered on seeded structured images (``structured_images``), in eval mode;
``export_family(name, path, seed)`` writes it as ``.pt2``, ``.pt`` or ``.onnx``. Both are
deterministic from the seed. The weights are untrained: these models exercise import, compression,
code generation and bit-exactness at the scale of real deployments, not accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from .export import export_module

IMAGENET_CLASSES = 1000
INPUT_SHAPE_224 = (1, 3, 224, 224)


def make_divisible(value: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Round a scaled channel count to a multiple of ``divisor``, never below 90% of ``value``.

    The rule of the MobileNet papers' reference code, which MobileNetV2/V3 and MnasNet use to keep
    channel counts multiples of 8 at every width multiplier.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1,
            activation: Optional[Callable[[], nn.Module]] = None) -> nn.Sequential:
    """Conv (no bias, 'same' padding for odd kernels) + BatchNorm + optional activation."""
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


def init_like_reference(module: nn.Module, linear_std: Optional[float] = 0.01) -> None:
    """Kaiming-normal (fan-out) convolutions, unit BatchNorm, small normal linear layers.

    The initialisation the families' reference implementations use; ``linear_std=None`` keeps
    PyTorch's default for linear layers (ResNet's).
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


# --- MobileNetV2 (Sandler et al. 2018, Table 2) ------------------------------------------------

class InvertedResidual(nn.Module):
    """1x1 expansion + ReLU6 (skipped at expansion 1), depthwise 3x3 + ReLU6, linear 1x1 projection;
    identity shortcut when the stride is 1 and the widths match."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int):
        super().__init__()
        hidden = int(round(c_in * expand))
        layers = [] if expand == 1 else [conv_bn(c_in, hidden, 1, activation=nn.ReLU6)]
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6), conv_bn(hidden, c_out, 1)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0: 32-channel stem, 17 inverted residual blocks, 1280-channel head, dropout 0.2."""

    # expansion t, output channels c, repeats n, first stride s (the paper's Table 2)
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = IMAGENET_CLASSES, width: float = 1.0):
        super().__init__()
        c_in = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        layers = [conv_bn(3, c_in, 3, 2, activation=nn.ReLU6)]
        for t, c, n, s in self.SETTINGS:
            c_out = make_divisible(c * width)
            for i in range(n):
                layers.append(InvertedResidual(c_in, c_out, s if i == 0 else 1, t))
                c_in = c_out
        layers.append(conv_bn(c_in, last, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))
        init_like_reference(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


# --- ResNet-18 (He et al. 2016, Table 1) -------------------------------------------------------

class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers, ReLU between and after the add; a strided 1x1 conv-BN shortcut
    (the paper's option B) where the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, 3, stride, activation=nn.ReLU)
        self.conv2 = conv_bn(c_out, c_out, 3)
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else conv_bn(c_in, c_out, 1, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18: 7x7/2 stem + 3x3/2 max pool, four stages of two basic blocks (64-512 channels)."""

    def __init__(self, num_classes: int = IMAGENET_CLASSES):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 64, 7, 2, activation=nn.ReLU), nn.MaxPool2d(3, 2, 1))
        stages, c_in = [], 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        init_like_reference(self, linear_std=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))


FAMILIES: dict = {
    "mobilenetv2": MobileNetV2,
    "resnet18": ResNet18,
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
