"""RegNetX-400MF: Radosavovic et al., "Designing Network Design Spaces", CVPR 2020: the RegNetX
design space (residual bottleneck blocks with grouped 3x3 convolutions, bottleneck ratio 1, no
squeeze-excitation) at the 400MF point of the paper's Table 3 (d=22, w0=24, wa=24.48, wm=2.54,
g=16)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .layers import IMAGENET_CLASSES, conv_bn, init_convs_and_norms, init_linears_normal, make_divisible


def regnet_stages(depth: int, w0: int, wa: float, wm: float, group_width: int, quantum: int = 8) -> list:
    """``(width, blocks, group width)`` per stage from the quantized linear width rule.

    Block j's width is ``w0 + wa*j`` snapped to ``w0 * wm^round(log(.../w0)/log(wm))`` and rounded
    to a multiple of ``quantum``; runs of equal width form the stages. A stage's group width is at
    most its width, and the width is then made a multiple of the group width.
    """
    continuous = np.arange(depth) * wa + w0
    exponent = np.round(np.log(continuous / w0) / np.log(wm))
    widths = (np.round(w0 * np.power(wm, exponent) / quantum) * quantum).astype(int).tolist()
    stages = []
    for width in widths:
        if stages and stages[-1][0] == width:
            stages[-1][1] += 1
        else:
            stages.append([width, 1])
    out = []
    for width, blocks in stages:
        group = min(group_width, width)
        out.append((make_divisible(width, group), blocks, group))
    return out


class Bottleneck(nn.Module):
    """1x1 conv + ReLU, grouped 3x3 (stride on it) + ReLU, 1x1 conv, each with BatchNorm; a strided
    1x1 conv-BN shortcut where the shape changes; ReLU after the add."""

    def __init__(self, c_in: int, c_out: int, stride: int, group_width: int):
        super().__init__()
        self.conv = nn.Sequential(conv_bn(c_in, c_out, 1, activation=nn.ReLU),
                                  conv_bn(c_out, c_out, 3, stride, groups=c_out // group_width, activation=nn.ReLU),
                                  conv_bn(c_out, c_out, 1))
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else conv_bn(c_in, c_out, 1, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) + self.shortcut(x))


class RegNetX400MF(nn.Module):
    """RegNetX-400MF: 32-channel 3x3/2 stem, four stages (each starting with stride 2), global
    average pool and a linear classifier."""

    def __init__(self, num_classes: int = IMAGENET_CLASSES):
        super().__init__()
        c_in = 32
        layers = [conv_bn(3, c_in, 3, 2, activation=nn.ReLU)]
        for width, blocks, group in regnet_stages(depth=22, w0=24, wa=24.48, wm=2.54, group_width=16):
            for i in range(blocks):
                layers.append(Bottleneck(c_in, width, 2 if i == 0 else 1, group))
                c_in = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        init_convs_and_norms(self)
        init_linears_normal(self, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))
