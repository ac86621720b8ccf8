"""Building blocks the families share: conv-BN(-activation), squeeze-excitation, channel rounding."""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

IMAGENET_CLASSES = 1000


def make_divisible(value: float, divisor: int = 8, min_value: Optional[int] = None) -> int:
    """Round a scaled channel count to a multiple of ``divisor``, never below 90% of ``value``.

    The rule of the MobileNet papers' reference code, which MobileNetV2/V3 and EfficientNet use to
    keep channel counts multiples of 8 at every width multiplier.
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


class SqueezeExcite(nn.Module):
    """Hu et al., "Squeeze-and-Excitation Networks" (CVPR 2018): global average pool, 1x1 reduce
    + ``activation``, 1x1 expand + ``gate``, and the input scaled per channel by the result."""

    def __init__(self, channels: int, reduced: int, activation: Callable[[], nn.Module] = nn.ReLU,
                 gate: Callable[[], nn.Module] = nn.Sigmoid):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.activation = activation()
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.activation(self.reduce(self.pool(x)))))


def init_convs_and_norms(module: nn.Module) -> None:
    """Kaiming-normal (fan-out) convolutions with zero biases, unit-scale zero-shift BatchNorm:
    the initialisation the families' reference implementations share (linear layers differ)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_linears_normal(module: nn.Module, std: float) -> None:
    """Linear layers drawn from N(0, std^2), zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)
