"""Small reference ConvNets for 28x28 one-channel digits (10 classes), written for this project.

Each is a scaled-down member of a family edge deployments use, so the pipeline meets the layer
patterns that matter: residual adds (ResNet-8), depthwise-separable convs (DS-CNN), inverted
residuals with ReLU6, squeeze-excitation and Hardswish (MobileNetV2-style), and wide convs with
BatchNorm and Hardtanh that binarize well (BinaryNet-style).
"""

from __future__ import annotations

import torch
from torch import nn

NUM_CLASSES = 10
INPUT_SHAPE = (1, 1, 28, 28)


def conv_bn(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> list:
    """Conv without bias followed by BatchNorm (the pair BN folding turns into one conv)."""
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]


class TinyCNN(nn.Module):
    """LeNet-like: two conv + ReLU + max-pool stages and a linear classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(16 * 7 * 7, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or strided 1x1 conv) shortcut, ReLU after the add."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(c_in, c_out, 3, stride)
        self.relu1 = nn.ReLU()
        self.conv2, self.bn2 = conv_bn(c_out, c_out, 3)
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(*conv_bn(c_in, c_out, 1, stride))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + self.shortcut(x))


class ResNet8(nn.Module):
    """ResNet-8 (the MLPerf Tiny image-classification layout at half width, strided stem)."""

    def __init__(self, widths: tuple = (8, 16, 32)):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(1, widths[0], 3, 2), nn.ReLU())
        self.layer1 = ResidualBlock(widths[0], widths[0], 1)
        self.layer2 = ResidualBlock(widths[0], widths[1], 2)
        self.layer3 = ResidualBlock(widths[1], widths[2], 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[2], NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


class DSCNN(nn.Module):
    """DS-CNN: a strided stem conv, then depthwise 3x3 + pointwise 1x1 blocks, mean pooling."""

    def __init__(self, width: int = 32, strides: tuple = (1, 2, 1)):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(1, width, 3, 2), nn.ReLU())
        layers = []
        for stride in strides:
            layers += [*conv_bn(width, width, 3, stride, groups=width), nn.ReLU(), *conv_bn(width, width, 1), nn.ReLU()]
        self.blocks = nn.Sequential(*layers)
        self.dropout = nn.Dropout(0.1)
        self.fc = nn.Linear(width, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(self.dropout(x.mean((2, 3))))


class SqueezeExcite(nn.Module):
    """Channel attention: global pool, 1x1 reduce + ReLU, 1x1 expand + Hardsigmoid, x * s."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + ReLU6, depthwise 3x3 + ReLU6, optional SE, 1x1 project."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int, squeeze_excite: bool):
        super().__init__()
        hidden = c_in * expand
        self.expand = nn.Sequential(*conv_bn(c_in, hidden, 1), nn.ReLU6())
        self.depthwise = nn.Sequential(*conv_bn(hidden, hidden, 3, stride, groups=hidden), nn.ReLU6())
        self.se = SqueezeExcite(hidden, max(hidden // 4, 4)) if squeeze_excite else nn.Identity()
        self.project = nn.Sequential(*conv_bn(hidden, c_out, 1))
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.depthwise(self.expand(x))))
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """A small MobileNetV2 with one squeeze-excitation block and a Hardswish head (as in V3)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(1, 16, 3, 2), nn.ReLU6())
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1, 1, False),
            InvertedResidual(16, 24, 2, 4, True),
            InvertedResidual(24, 24, 1, 4, False),
        )
        self.head = nn.Sequential(*conv_bn(24, 64, 1), nn.Hardswish())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.1)
        self.fc = nn.Linear(64, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.head(self.blocks(self.stem(x))))
        return self.fc(self.dropout(torch.flatten(x, 1)))


class BinaryNet(nn.Module):
    """Binary-friendly: wide 3x3 convs, each followed by BatchNorm and Hardtanh, no residuals."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(1, 16), nn.Hardtanh(), nn.MaxPool2d(2),
            *conv_bn(16, 32), nn.Hardtanh(), nn.MaxPool2d(2),
            *conv_bn(32, 48), nn.Hardtanh(),
        )
        self.classifier = nn.Sequential(nn.Linear(48 * 7 * 7, 64), nn.BatchNorm1d(64), nn.Hardtanh(),
                                        nn.Linear(64, NUM_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


MODELS: dict = {
    "tinycnn": TinyCNN,
    "resnet8": ResNet8,
    "dscnn": DSCNN,
    "mobilenetv2": MobileNetV2,
    "binarynet": BinaryNet,
}
