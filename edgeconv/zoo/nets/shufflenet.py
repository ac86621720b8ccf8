"""ShuffleNetV2 1.0x: Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN
Architecture Design", ECCV 2018 (Table 5 and Figure 3(c)/(d)): channel split, a branch of 1x1,
depthwise 3x3 and 1x1 convolutions, concatenation and a channel shuffle of two groups."""

from __future__ import annotations

import torch
from torch import nn

from .layers import IMAGENET_CLASSES, conv_bn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` channel groups: (N, g*k, H, W) -> (N, g, k, H, W) -> swap -> flatten."""
    n, channels, height, width = x.shape
    x = x.view(n, groups, channels // groups, height, width).transpose(1, 2).contiguous()
    return x.view(n, channels, height, width)


class ShuffleUnit(nn.Module):
    """Stride 1: half the channels pass through, the other half go through the branch; stride 2:
    both halves are the (downsampling) input seen by two branches. Concatenate, then shuffle."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        half = c_out // 2
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(conv_bn(c_in, c_in, 3, stride, groups=c_in),
                                         conv_bn(c_in, half, 1, activation=nn.ReLU))
        self.branch2 = nn.Sequential(conv_bn(c_in if stride > 1 else half, half, 1, activation=nn.ReLU),
                                     conv_bn(half, half, 3, stride, groups=half),
                                     conv_bn(half, half, 1, activation=nn.ReLU))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, x = x.chunk(2, dim=1)
            out = torch.cat((kept, self.branch2(x)), 1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), 1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """ShuffleNetV2 1.0x: 24-channel 3x3/2 stem + 3x3/2 max pool, stages of 4, 8 and 4 units
    (116, 232, 464 channels), a 1024-channel 1x1 conv, mean pooling and a linear classifier
    (PyTorch's default initialisation)."""

    STAGES = ((116, 4), (232, 8), (464, 4))

    def __init__(self, num_classes: int = IMAGENET_CLASSES):
        super().__init__()
        c_in = 24
        layers = [conv_bn(3, c_in, 3, 2, activation=nn.ReLU), nn.MaxPool2d(3, 2, 1)]
        for c_out, units in self.STAGES:
            for i in range(units):
                layers.append(ShuffleUnit(c_in, c_out, 2 if i == 0 else 1))
                c_in = c_out
        layers.append(conv_bn(c_in, 1024, 1, activation=nn.ReLU))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))
