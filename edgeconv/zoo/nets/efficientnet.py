"""EfficientNet-B0: Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019 (Table 1): MBConv blocks with SiLU (swish) and squeeze-excitation."""

from __future__ import annotations

import math

import torch
from torch import nn

from .layers import IMAGENET_CLASSES, SqueezeExcite, conv_bn, init_convs_and_norms


class MBConvSE(nn.Module):
    """1x1 expansion + SiLU (skipped at expansion 1), depthwise k x k + SiLU, squeeze-excitation to
    a quarter of the block's *input* width (SiLU, sigmoid gate), linear 1x1 projection; identity
    shortcut when the stride is 1 and the widths match (stochastic depth is an identity at
    inference)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        layers = [] if expand == 1 else [conv_bn(c_in, hidden, 1, activation=nn.SiLU)]
        layers += [conv_bn(hidden, hidden, kernel, stride, groups=hidden, activation=nn.SiLU),
                   SqueezeExcite(hidden, max(1, c_in // 4), nn.SiLU, nn.Sigmoid),
                   conv_bn(hidden, c_out, 1)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class EfficientNetB0(nn.Module):
    """EfficientNet-B0: SiLU stem, seven MBConv stages, 1280-channel head, dropout 0.2, linear."""

    # expansion, kernel, first stride, output width, repeats (the paper's Table 1)
    STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
              (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))

    def __init__(self, num_classes: int = IMAGENET_CLASSES):
        super().__init__()
        c_in = 32
        layers = [conv_bn(3, c_in, 3, 2, activation=nn.SiLU)]
        for expand, kernel, stride, c_out, repeats in self.STAGES:
            for i in range(repeats):
                layers.append(MBConvSE(c_in, c_out, kernel, stride if i == 0 else 1, expand))
                c_in = c_out
        layers.append(conv_bn(c_in, 1280, 1, activation=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
        init_convs_and_norms(self)
        bound = 1.0 / math.sqrt(num_classes)
        nn.init.uniform_(self.classifier[1].weight, -bound, bound)
        nn.init.zeros_(self.classifier[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))
