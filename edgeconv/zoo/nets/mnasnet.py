"""MnasNet 1.0: Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile",
CVPR 2019, the MnasNet-B1 search result (no squeeze-excitation; Figure 7(a)'s layout with plain
inverted residuals), which the authors published as their 1.0 model."""

from __future__ import annotations

import torch
from torch import nn

from .layers import IMAGENET_CLASSES, conv_bn, init_convs_and_norms


class MBConv(nn.Module):
    """1x1 expansion + ReLU, depthwise k x k + ReLU, linear 1x1 projection; identity shortcut when
    the stride is 1 and the widths match."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        self.conv = nn.Sequential(conv_bn(c_in, hidden, 1, activation=nn.ReLU),
                                  conv_bn(hidden, hidden, kernel, stride, groups=hidden, activation=nn.ReLU),
                                  conv_bn(hidden, c_out, 1))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MnasNet(nn.Module):
    """MnasNet-B1 1.0: 3x3 stem, a depthwise-separable block, six MBConv stacks, 1280-channel head,
    mean pooling, dropout 0.2 and a linear classifier."""

    # output width, kernel, first stride, expansion, repeats
    STACKS = ((24, 3, 2, 3, 3), (40, 5, 2, 3, 3), (80, 5, 2, 6, 3), (96, 3, 1, 6, 2), (192, 5, 2, 6, 4), (320, 3, 1, 6, 1))

    def __init__(self, num_classes: int = IMAGENET_CLASSES):
        super().__init__()
        layers = [conv_bn(3, 32, 3, 2, activation=nn.ReLU), conv_bn(32, 32, 3, groups=32, activation=nn.ReLU),
                  conv_bn(32, 16, 1)]
        c_in = 16
        for c_out, kernel, stride, expand, repeats in self.STACKS:
            for i in range(repeats):
                layers.append(MBConv(c_in, c_out, kernel, stride if i == 0 else 1, expand))
                c_in = c_out
        layers.append(conv_bn(c_in, 1280, 1, activation=nn.ReLU))
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
        init_convs_and_norms(self)
        linear = self.classifier[1]
        nn.init.kaiming_uniform_(linear.weight, mode="fan_out", nonlinearity="sigmoid")
        nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.layers(x).mean((2, 3)))
