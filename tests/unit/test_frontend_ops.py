"""Every supported layer through every frontend, against PyTorch's own output.

Each case is a small module around one op (odd channel counts, stride/pad/dilation/groups mixes,
1-D and 2-D). It is written as a torch.export ``.pt2`` (as exported, and decomposed to core ATen),
and as ONNX, read back with ``load_model``, run by the reference executor on a batch of one and a
batch of several, and compared with PyTorch within the float tolerance of the design.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeconv.frontend import load_model
from edgeconv.reference import run_single


def assert_float_close(out: np.ndarray, ref: np.ndarray) -> None:
    assert out.shape == ref.shape
    tolerance = 1e-4 * max(1.0, float(np.abs(ref).max()))
    assert float(np.abs(out - ref).max()) <= tolerance


def randomize_batch_norms(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters, then eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return module.eval()


class Lambda(nn.Module):
    """A module whose forward is a function of its input and its children."""

    def __init__(self, fn, **children):
        super().__init__()
        self.fn = fn
        for name, child in children.items():
            self.add_module(name, child)

    def forward(self, x):
        return self.fn(self, x)


def seq(*layers) -> nn.Module:
    return nn.Sequential(*layers)


def conv(c_in=3, c_out=5, kernel=3, **kwargs) -> nn.Module:
    return nn.Conv2d(c_in, c_out, kernel, **kwargs)


def _shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    """ShuffleNet's channel shuffle: view, transpose, flatten."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).contiguous().view(n, c, h, w)


IMG = (1, 3, 13, 11)
SIGNAL = (1, 3, 17)

CASES = {
    "conv": (lambda: conv(3, 5, 3), IMG),
    "conv_stride_pad_dilation": (lambda: conv(3, 7, 3, stride=2, padding=2, dilation=2), IMG),
    "conv_groups": (lambda: seq(conv(3, 6, 1), conv(6, 9, 3, padding=1, groups=3)), IMG),
    "conv_depthwise_no_bias": (lambda: seq(conv(3, 7, 1), conv(7, 7, 3, stride=2, padding=1, groups=7, bias=False)), IMG),
    "conv_rectangular_kernel": (lambda: conv(3, 4, (3, 5), stride=(1, 2), padding=(0, 2)), IMG),
    "conv_same_padding": (lambda: conv(3, 4, 4, padding="same"), IMG),
    "conv_asymmetric_pad": (lambda: Lambda(lambda m, x: m.c(F.pad(x, (1, 2, 0, 3))), c=conv(3, 5, 3, stride=2)), IMG),
    "conv1d_bn_relu": (lambda: seq(nn.Conv1d(3, 5, 3, stride=2, padding=1), nn.BatchNorm1d(5), nn.ReLU()), SIGNAL),
    "conv1d_dilated_groups": (lambda: nn.Conv1d(3, 9, 3, dilation=2, groups=3), SIGNAL),
    "batchnorm2d": (lambda: seq(nn.ReLU(), nn.BatchNorm2d(3)), IMG),
    "conv_bn_relu": (lambda: seq(conv(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU()), IMG),
    "relu6": (lambda: seq(conv(), nn.ReLU6()), IMG),
    "leaky_relu": (lambda: seq(conv(), nn.LeakyReLU(0.2)), IMG),
    "hardtanh": (lambda: seq(conv(), nn.Hardtanh(-0.5, 1.5)), IMG),
    "hardswish": (lambda: seq(conv(), nn.Hardswish()), IMG),
    "hardsigmoid": (lambda: seq(conv(), nn.Hardsigmoid()), IMG),
    "sigmoid": (lambda: seq(conv(), nn.Sigmoid()), IMG),
    "silu": (lambda: seq(conv(), nn.SiLU()), IMG),
    "gelu": (lambda: seq(conv(), nn.GELU()), IMG),
    "gelu_tanh": (lambda: Lambda(lambda m, x: F.gelu(m.c(x), approximate="tanh"), c=nn.Conv1d(3, 4, 3)), SIGNAL),
    "add_residual": (lambda: Lambda(lambda m, x: F.relu(m.c(x) + x), c=conv(3, 3, 3, padding=1)), IMG),
    "mul_squeeze_excitation": (lambda: Lambda(
        lambda m, x: x * m.gate(m.fc(F.adaptive_avg_pool2d(x, 1))), fc=conv(3, 3, 1), gate=nn.Hardsigmoid()), IMG),
    "scalar_arithmetic": (lambda: Lambda(lambda m, x: (m.c(x) * 0.5 + 1.0) / 4.0 - 0.25, c=conv()), IMG),
    "cat": (lambda: Lambda(lambda m, x: torch.cat([m.a(x), x, m.b(x)], 1), a=conv(3, 2, 1), b=conv(3, 5, 1)), IMG),
    "maxpool": (lambda: nn.MaxPool2d(3, stride=2, padding=1), IMG),
    "maxpool_ceil": (lambda: nn.MaxPool2d(2, ceil_mode=True), IMG),
    "avgpool_exclude_pad": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), IMG),
    "avgpool_include_pad_ceil": (lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), IMG),
    "maxpool1d_avgpool1d": (lambda: seq(nn.MaxPool1d(3, stride=2), nn.AvgPool1d(2)), SIGNAL),
    "global_pool_flatten_linear": (lambda: seq(conv(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 7)), IMG),
    "mean_keepdim": (lambda: Lambda(lambda m, x: m.c(x).mean((2, 3), keepdim=True) * x.mean((-1, -2), keepdim=True),
                                    c=conv(3, 3, 1)), IMG),
    "view_linear_softmax": (lambda: Lambda(lambda m, x: F.softmax(m.fc(m.c(x).view(x.size(0), -1)), dim=-1),
                                           c=conv(3, 2, 3, stride=2), fc=nn.Linear(2 * 6 * 5, 10)), IMG),
    "reshape_dropout_identity": (lambda: Lambda(lambda m, x: m.fc(m.drop(m.id(x)).reshape(-1, 3 * 13 * 11)),
                                                drop=nn.Dropout(0.5), id=nn.Identity(), fc=nn.Linear(3 * 13 * 11, 4)), IMG),
    "channel_shuffle_chunk": (lambda: Lambda(lambda m, x: _shuffle(torch.cat(m.c(x).chunk(2, dim=1)[::-1], 1)),
                                             c=conv(3, 6, 1)), IMG),
    "permute_split_narrow": (lambda: Lambda(lambda m, x: torch.cat([*torch.split(m.c(x), [1, 3, 2], dim=1)[1:],
                                                                    m.c(x).permute(0, 1, 3, 2).narrow(1, 2, 3).transpose(2, 3)], 1),
                                            c=conv(3, 6, 1)), IMG),
    "upsample_nearest": (lambda: Lambda(lambda m, x: m.up(m.c(x)) + F.interpolate(m.c(x), size=(26, 33)),
                                        c=conv(3, 4, 1), up=nn.Upsample(size=(26, 33))), IMG),
    # bilinear by a factor (half-pixel), to a size with align_corners, and down to a size
    "upsample_bilinear": (lambda: Lambda(lambda m, x: m.up(m.c(x)) + F.interpolate(m.c(x), size=(26, 22), mode="bilinear",
                                                                                    align_corners=True),
                                         c=conv(3, 4, 1), up=nn.Upsample(scale_factor=2, mode="bilinear")), IMG),
    "downsample_bilinear": (lambda: Lambda(lambda m, x: F.interpolate(m.c(x), size=(5, 7), mode="bilinear"),
                                           c=conv(3, 4, 1)), IMG),
    # SAME-like (k 4, s 2, p 1), VALID (k 2, s 2), cropped with output padding (k 3, s 2, p 1,
    # op 1), no bias; a BatchNorm after the first folds into it
    "conv_transpose": (lambda: Lambda(lambda m, x: torch.cat([m.a(x), m.b(x), m.c(x)], 1),
                                      a=seq(nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU()),
                                      b=nn.ConvTranspose2d(3, 2, 2, stride=2),
                                      c=nn.ConvTranspose2d(3, 5, 3, stride=2, padding=1, output_padding=1, bias=False)), IMG),
    "conv_transpose_odd": (lambda: nn.ConvTranspose2d(3, 6, (3, 2), stride=(1, 3), padding=(2, 0), output_padding=(0, 2)), IMG),
    "conv_transpose_grouped": (lambda: seq(conv(3, 6, 1), nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, groups=2),
                                           nn.ConvTranspose2d(4, 8, 2, stride=2, groups=4)), IMG),
    "linear_no_bias_conv1d_flatten": (lambda: seq(nn.Conv1d(3, 4, 5), nn.Flatten(), nn.Linear(4 * 13, 3, bias=False)), SIGNAL),
}


def build(case: str) -> tuple:
    factory, shape = CASES[case]
    torch.manual_seed(1)
    return randomize_batch_norms(factory()), shape


def write_pt2(module, shape, path, decompose=False):
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(module, (torch.randn(2, *shape[1:]),), dynamic_shapes=({0: batch},))
    if decompose:
        program = program.run_decompositions()
    torch.export.save(program, str(path))


# ONNX has a Gelu node from opset 20; below it, exporters write GELU's erf or tanh formula.
ONNX_OPSET = {"gelu": 20, "gelu_tanh": 20}


def write_onnx(module, shape, path, decompose=False, opset=17):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(*shape),), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}}, opset_version=opset)


WRITERS = {"pt2": (write_pt2, ".pt2", False), "pt2-core-aten": (write_pt2, ".pt2", True), "onnx": (write_onnx, ".onnx", False)}


@pytest.mark.parametrize("frontend", sorted(WRITERS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_pytorch(case, frontend, tmp_path):
    module, shape = build(case)
    writer, suffix, decompose = WRITERS[frontend]
    path = tmp_path / f"{case}{suffix}"
    if frontend == "onnx":
        write_onnx(module, shape, path, opset=ONNX_OPSET.get(case, 17))
    else:
        writer(module, shape, path, decompose)
    graph = load_model(path)
    assert graph.tensors[graph.inputs[0]].shape == shape
    for batch in (1, 3):
        x = torch.randn(batch, *shape[1:], generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            ref = module(x).numpy()
        assert_float_close(run_single(graph, x.numpy()), ref)


def test_pt2_names_and_sources_follow_the_module_tree(tmp_path):
    module, shape = build("conv_bn_relu")
    write_pt2(module, shape, tmp_path / "m.pt2")
    graph = load_model(tmp_path / "m.pt2")
    assert [(n.name, n.op_name) for n in graph.nodes] == [("0", "Conv"), ("1", "BatchNorm"), ("2", "Clip")]
    assert graph.nodes[0].source.startswith("0 (Conv2d)")
    assert "test_frontend_ops.py" not in graph.nodes[0].source  # the user's line is torch's Sequential here
    assert graph.tensor("0.weight").data.shape == (5, 3, 3, 3)


def test_onnx_batch_norm_is_kept_and_weights_are_constants(tmp_path):
    module, shape = build("batchnorm2d")
    write_onnx(module, shape, tmp_path / "bn.onnx")
    graph = load_model(tmp_path / "bn.onnx")
    assert [n.op_name for n in graph.nodes] == ["Clip", "BatchNorm"]
    bn = graph.nodes[1]
    np.testing.assert_array_equal(graph.tensors[bn.input("var")].data, module[1].running_var.numpy())
