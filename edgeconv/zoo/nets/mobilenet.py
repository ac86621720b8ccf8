"""MobileNetV2 and MobileNetV3-Small at width 1.0.

- MobileNetV2: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018
  (Table 2).
- MobileNetV3-Small: Howard et al., "Searching for MobileNetV3", ICCV 2019 (Table 2), with the
  squeeze-excitation width rounded to a multiple of 8 as in the authors' reference code.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .layers import IMAGENET_CLASSES, SqueezeExcite, conv_bn, init_convs_and_norms, init_linears_normal, make_divisible


class InvertedResidual(nn.Module):
    """1x1 expansion + activation (skipped when the expanded width is the input width), depthwise
    k x k + activation, optional squeeze-excitation, linear 1x1 projection; identity shortcut when
    the stride is 1 and the widths match."""

    def __init__(self, c_in: int, hidden: int, c_out: int, kernel: int, stride: int,
                 activation: Callable[[], nn.Module], squeeze_excite: bool = False):
        super().__init__()
        layers = [] if hidden == c_in else [conv_bn(c_in, hidden, 1, activation=activation)]
        layers.append(conv_bn(hidden, hidden, kernel, stride, groups=hidden, activation=activation))
        if squeeze_excite:
            layers.append(SqueezeExcite(hidden, make_divisible(hidden // 4), nn.ReLU, nn.Hardsigmoid))
        layers.append(conv_bn(hidden, c_out, 1))
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0: 32-channel stem, 17 inverted residual blocks (ReLU6), 1280-channel head,
    dropout 0.2 and a linear classifier."""

    # expansion t, output channels c, repeats n, first stride s (the paper's Table 2)
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, num_classes: int = IMAGENET_CLASSES):
        super().__init__()
        c_in = 32
        layers = [conv_bn(3, c_in, 3, 2, activation=nn.ReLU6)]
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(c_in, c_in * t, c, 3, s if i == 0 else 1, nn.ReLU6))
                c_in = c
        layers.append(conv_bn(c_in, 1280, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
        init_convs_and_norms(self)
        init_linears_normal(self, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


class MobileNetV3Small(nn.Module):
    """MobileNetV3-Small 1.0: Hardswish stem, 11 bottlenecks (3x3 and 5x5 depthwise, SE with a
    Hardsigmoid gate, ReLU early and Hardswish late), a 576-channel head and a 1024-wide
    Hardswish classifier layer before the output."""

    # kernel, expanded width, output width, squeeze-excite, Hardswish, stride (the paper's Table 2)
    SETTINGS = (
        (3, 16, 16, True, False, 2), (3, 72, 24, False, False, 2), (3, 88, 24, False, False, 1),
        (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 240, 40, True, True, 1),
        (5, 120, 48, True, True, 1), (5, 144, 48, True, True, 1), (5, 288, 96, True, True, 2),
        (5, 576, 96, True, True, 1), (5, 576, 96, True, True, 1),
    )

    def __init__(self, num_classes: int = IMAGENET_CLASSES):
        super().__init__()
        c_in = 16
        layers = [conv_bn(3, c_in, 3, 2, activation=nn.Hardswish)]
        for kernel, hidden, c_out, se, hardswish, stride in self.SETTINGS:
            activation = nn.Hardswish if hardswish else nn.ReLU
            layers.append(InvertedResidual(c_in, hidden, c_out, kernel, stride, activation, se))
            c_in = c_out
        layers.append(conv_bn(c_in, 576, 1, activation=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(576, 1024), nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(1024, num_classes))
        init_convs_and_norms(self)
        init_linears_normal(self, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
