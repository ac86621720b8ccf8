"""ResNet-18: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (Table 1), with
1x1 projection shortcuts where the shape changes (the paper's option B)."""

from __future__ import annotations

import torch
from torch import nn

from .layers import IMAGENET_CLASSES, conv_bn, init_convs_and_norms


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers, ReLU between and after the add; a strided 1x1 conv-BN shortcut
    where the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = conv_bn(c_in, c_out, 3, stride, activation=nn.ReLU)
        self.conv2 = conv_bn(c_out, c_out, 3)
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else conv_bn(c_in, c_out, 1, stride)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18: 7x7/2 stem + 3x3/2 max pool, four stages of two basic blocks (64-512 channels),
    global average pool, linear classifier (PyTorch's default initialisation)."""

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
        init_convs_and_norms(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))
