"""Activation fusion: Clip into the clamp of Conv / Linear / Add; numbers and structure."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from edgeconv.ir import Graph, Node, Tensor, format_graph
from edgeconv.ir import ops
from edgeconv.passes import fuse_activation
from edgeconv.reference import run_single


def assert_float_close(actual, reference):
    bound = 1e-4 * max(1.0, float(np.max(np.abs(reference))))
    assert float(np.max(np.abs(actual - reference))) <= bound


def _add(graph, name, op, inputs):
    shape = op.infer([None if i is None else graph.tensors[i].shape for i in inputs])
    graph.add_tensor(Tensor(f"{name}.out", shape))
    graph.add_node(Node(name, op, inputs, f"{name}.out"))
    return f"{name}.out"


def _const(graph, name, value):
    return graph.add_tensor(Tensor(name, value.shape, data=value.detach().numpy())).name


def _graph(input_shape):
    graph = Graph(name="fuse")
    graph.add_tensor(Tensor("x", input_shape))
    graph.inputs = ["x"]
    return graph


ACTIVATIONS = {"relu": (nn.ReLU(), (0.0, None)), "relu6": (nn.ReLU6(), (0.0, 6.0)),
               "hardtanh": (nn.Hardtanh(-0.5, 0.75), (-0.5, 0.75))}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_conv_and_linear_with_activation_match_pytorch(activation):
    torch.manual_seed(3)
    module, (lo, hi) = ACTIVATIONS[activation]
    conv, linear = nn.Conv2d(3, 5, 3, padding=1), nn.Linear(5 * 6 * 6, 7)
    model = nn.Sequential(conv, module, nn.Flatten(), linear, module).eval()
    graph = _graph((1, 3, 6, 6))
    conv_params = [_const(graph, "cw", conv.weight), _const(graph, "cb", conv.bias)]
    y = _add(graph, "conv", ops.Conv(pads=(1, 1, 1, 1)), ["x", *conv_params])
    y = _add(graph, "act1", ops.Clip(lo, hi), [y])
    y = _add(graph, "flatten", ops.Reshape((-1,)), [y])
    y = _add(graph, "fc", ops.Linear(), [y, _const(graph, "fw", linear.weight), _const(graph, "fb", linear.bias)])
    graph.outputs = [_add(graph, "act2", ops.Clip(lo, hi), [y])]
    before = format_graph(graph)

    fused = fuse_activation.run(graph)

    x = torch.randn(4, 3, 6, 6) * 3
    with torch.no_grad():
        expected = model(x).numpy()
    assert_float_close(run_single(fused, x.numpy()), expected)
    assert [n.op_name for n in fused.nodes] == ["Conv", "Reshape", "Linear"]
    assert fused.nodes[0].op.clamp == (lo, hi) and fused.nodes[2].op.clamp == (lo, hi)
    assert fused.outputs == ["act2.out"]
    assert format_graph(graph) == before


def test_add_with_relu_fuses_and_keeps_values():
    graph = _graph((1, 4, 3, 3))
    s = _add(graph, "add", ops.Add(), ["x", "x"])
    graph.outputs = [_add(graph, "relu", ops.Clip(0.0, None), [s])]
    fused = fuse_activation.run(graph)
    assert [(n.op_name, n.op.clamp) for n in fused.nodes] == [("Add", (0.0, None))]
    x = np.random.default_rng(1).standard_normal((2, 4, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_single(fused, x), run_single(graph, x))


BOUNDS = (None, -2.0, -0.5, 0.0, 1.0, 3.0)


def test_clamp_composition_equals_clipping_twice():
    z = np.linspace(-5, 5, 201)
    intervals = [(a, b) for a, b in itertools.product(BOUNDS, BOUNDS) if a is None or b is None or a <= b]
    for first, second in itertools.product(intervals, intervals):
        lo, hi = fuse_activation.compose_clamps(first, second)
        twice = np.clip(np.clip(z, first[0], first[1]), second[0], second[1])
        once = np.minimum(np.maximum(z, -np.inf if lo is None else lo), np.inf if hi is None else hi)
        np.testing.assert_array_equal(once, twice)


def test_clamped_conv_takes_the_composition_and_equals_the_pair():
    rng = np.random.default_rng(2)
    graph = _graph((1, 2, 5, 5))
    w = graph.add_tensor(Tensor("w", (3, 2, 3, 3), data=rng.standard_normal((3, 2, 3, 3)).astype(np.float32))).name
    y = _add(graph, "conv", ops.Conv(clamp=(-1.0, 2.0)), ["x", w])
    graph.outputs = [_add(graph, "relu6", ops.Clip(0.0, 6.0), [y])]
    fused = fuse_activation.run(graph)
    assert len(fused.nodes) == 1 and fused.nodes[0].op.clamp == (0.0, 2.0)
    x = rng.standard_normal((3, 2, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(run_single(fused, x), run_single(graph, x))


def test_no_fusion_when_output_is_shared_or_a_graph_output_or_producer_not_fusable():
    graph = _graph((1, 2, 4, 4))
    s = _add(graph, "add", ops.Add(), ["x", "x"])
    r = _add(graph, "relu", ops.Clip(0.0, None), [s])
    graph.outputs = [_add(graph, "mul", ops.Mul(), [r, s])]
    assert [n.op_name for n in fuse_activation.run(graph).nodes] == ["Add", "Clip", "Mul"]

    graph = _graph((1, 2, 4, 4))
    s = _add(graph, "add", ops.Add(), ["x", "x"])
    graph.outputs = [s, _add(graph, "relu", ops.Clip(0.0, None), [s])]
    assert [n.op_name for n in fuse_activation.run(graph).nodes] == ["Add", "Clip"]

    graph = _graph((1, 2, 4, 4))
    p = _add(graph, "pool", ops.MaxPool(), ["x"])
    graph.outputs = [_add(graph, "relu", ops.Clip(0.0, None), [p])]
    assert [n.op_name for n in fuse_activation.run(graph).nodes] == ["MaxPool", "Clip"]
