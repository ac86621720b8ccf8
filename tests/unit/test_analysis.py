"""Layer table and MAC counts, checked against an independent count made by PyTorch hooks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from edgeconv.analysis import layer_table, total_macs, total_params
from edgeconv.frontend.torch_export import convert_module
from edgeconv.zoo import INPUT_SHAPE, MODELS


def hook_macs(module: nn.Module, shape: tuple) -> dict:
    """MACs per conv/linear module at batch 1, measured from the output each one produces."""
    counts: dict = {}

    def conv_hook(name):
        def hook(m, inputs, out):
            counts[name] = out[0].numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)
        return hook

    def linear_hook(name):
        def hook(m, inputs, out):
            counts[name] = m.in_features * m.out_features
        return hook

    handles = []
    for name, m in module.named_modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            handles.append(m.register_forward_hook(conv_hook(name)))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook(name)))
    with torch.no_grad():
        module.eval()(torch.zeros(shape))
    for h in handles:
        h.remove()
    return counts


def test_tinycnn_by_hand():
    torch.manual_seed(0)
    graph = convert_module(MODELS["tinycnn"](), INPUT_SHAPE, "tinycnn", "tinycnn")
    # conv 1->8 3x3 on 28x28, conv 8->16 3x3 on 14x14, linear 784->10
    assert total_macs(graph) == 28 * 28 * 8 * 9 + 14 * 14 * 16 * 8 * 9 + 16 * 7 * 7 * 10
    rows = {row.name: row for row in layer_table(graph)}
    assert rows["features.0"].output_shape == (1, 8, 28, 28)
    assert rows["features.0"].params == 8 * 9 + 8
    assert rows["features.2"].macs == 0 and rows["features.2"].op == "MaxPool"
    assert rows["classifier"].params == 784 * 10 + 10


@pytest.mark.parametrize("name", sorted(MODELS))
def test_zoo_macs_match_hooks(name):
    torch.manual_seed(0)
    module = MODELS[name]()
    graph = convert_module(module, INPUT_SHAPE, name, name)
    expected = hook_macs(module, INPUT_SHAPE)
    per_layer = {row.name: row.macs for row in layer_table(graph) if row.op in ("Conv", "Linear")}
    assert per_layer == expected
    assert total_macs(graph) == sum(expected.values())
    assert total_params(graph) == sum(t.numel() for t in module.state_dict().values() if t.is_floating_point())


def test_strided_dilated_grouped_conv1d_macs():
    module = nn.Sequential(nn.Conv1d(6, 9, 3, stride=2, dilation=2, groups=3, padding=1), nn.Flatten(), nn.Linear(9 * 9, 5))
    graph = convert_module(module, (1, 6, 19), "m", "m")
    # output length (19 + 2 - 5) // 2 + 1 = 9; 9 positions x 9 channels x (6 / 3) x 3 taps; 81 x 5
    assert total_macs(graph) == sum(hook_macs(module, (1, 6, 19)).values()) == 9 * 9 * 2 * 3 + 81 * 5
