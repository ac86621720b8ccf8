"""BatchNorm folding: numbers against PyTorch in eval mode, and no BatchNorm left."""

import numpy as np
import pytest
import torch
from torch import nn

from edgeconv.ir import Graph, Node, Tensor, format_graph
from edgeconv.ir import ops
from edgeconv.passes import fold_batchnorm
from edgeconv.reference import run_single


def assert_float_close(actual, reference):
    bound = 1e-4 * max(1.0, float(np.max(np.abs(reference))))
    assert float(np.max(np.abs(actual - reference))) <= bound


def _const(graph, name, value):
    return graph.add_tensor(Tensor(name, value.shape, data=value.detach().numpy())).name


def _add(graph, name, op, inputs):
    shape = op.infer([None if i is None else graph.tensors[i].shape for i in inputs])
    graph.add_tensor(Tensor(f"{name}.out", shape))
    graph.add_node(Node(name, op, inputs, f"{name}.out"))
    return f"{name}.out"


def _layer_op(layer):
    if isinstance(layer, nn.Linear):
        return ops.Linear()
    r = len(layer.kernel_size)
    return ops.Conv(stride=layer.stride, pads=tuple(layer.padding) * 2, dilation=(1,) * r, groups=layer.groups)


def _randomize_bn(bn, generator):
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5, generator=generator)
        bn.bias.uniform_(-1, 1, generator=generator)
        bn.running_mean.uniform_(-1, 1, generator=generator)
        bn.running_var.uniform_(0.2, 2.0, generator=generator)


def layer_bn_graph(layer, bn, input_shape):
    """IR graph of ``layer -> bn`` with the module's weights."""
    graph = Graph(name="layer_bn")
    graph.add_tensor(Tensor("x", input_shape))
    graph.inputs = ["x"]
    w = _const(graph, "layer.weight", layer.weight)
    b = None if layer.bias is None else _const(graph, "layer.bias", layer.bias)
    y = _add(graph, "layer", _layer_op(layer), ["x", w, b])
    params = [_const(graph, f"bn.{k}", v) for k, v in
              (("gamma", bn.weight), ("beta", bn.bias), ("mean", bn.running_mean), ("var", bn.running_var))]
    graph.outputs = [_add(graph, "bn", ops.BatchNorm(eps=bn.eps), [y, *params])]
    return graph


CASES = {
    "conv2d": (lambda: nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), (2, 3, 9, 7)),
    "conv2d_stride2_nobias": (
        lambda: nn.Conv2d(5, 7, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(7), (2, 5, 11, 10)),
    "depthwise": (lambda: nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.BatchNorm2d(6), (2, 6, 8, 8)),
    "grouped": (lambda: nn.Conv2d(6, 9, 3, groups=3), nn.BatchNorm2d(9), (2, 6, 8, 8)),
    "conv1d": (lambda: nn.Conv1d(4, 5, 5, padding=2), nn.BatchNorm1d(5), (3, 4, 17)),
    "depthwise1d": (lambda: nn.Conv1d(4, 8, 3, groups=4), nn.BatchNorm1d(8), (3, 4, 17)),
    "linear": (lambda: nn.Linear(10, 6), nn.BatchNorm1d(6), (4, 10)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_folded_layer_matches_pytorch(case):
    generator = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    make_layer, bn, input_shape = CASES[case]
    layer = make_layer()
    _randomize_bn(bn, generator)
    model = nn.Sequential(layer, bn).eval()
    graph = layer_bn_graph(layer, bn, (1, *input_shape[1:]))
    before = format_graph(graph)

    folded = fold_batchnorm.run(graph)

    x = torch.randn(input_shape, generator=generator)
    with torch.no_grad():
        expected = model(x).numpy()
    assert_float_close(run_single(folded, x.numpy()), expected)
    assert [n.op_name for n in folded.nodes] == [type(_layer_op(layer)).NAME]
    assert folded.outputs == graph.outputs
    assert format_graph(graph) == before and [n.op_name for n in graph.nodes][-1] == "BatchNorm"


def test_batchnorm_stays_when_conv_output_has_another_reader():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
    graph = layer_bn_graph(conv, bn, (1, 3, 6, 6))
    graph.outputs.append("layer.out")
    folded = fold_batchnorm.run(graph)
    assert [n.op_name for n in folded.nodes] == ["Conv", "BatchNorm"]


def test_batchnorm_stays_after_clamped_conv_and_after_add():
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
    graph = layer_bn_graph(conv, bn, (1, 3, 6, 6))
    graph.nodes[0].op = ops.Conv(stride=(1, 1), pads=(0, 0, 0, 0), clamp=(0.0, None))
    assert [n.op_name for n in fold_batchnorm.run(graph).nodes] == ["Conv", "BatchNorm"]

    graph = Graph(name="add_bn")
    graph.add_tensor(Tensor("x", (1, 4, 5, 5)))
    graph.inputs = ["x"]
    s = _add(graph, "add", ops.Add(), ["x", "x"])
    params = [_const(graph, f"bn.{k}", torch.rand(4) + 0.5) for k in ("gamma", "beta", "mean", "var")]
    graph.outputs = [_add(graph, "bn", ops.BatchNorm(), [s, *params])]
    kept = fold_batchnorm.run(graph)
    assert [n.op_name for n in kept.nodes] == ["Add", "BatchNorm"]
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(run_single(kept, x), run_single(graph, x))
