"""Merging conv chains: the merged conv equals the unmerged chain with its activations removed and
its padding moved to the input (built here explicitly in PyTorch), over random shapes."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgeconv.errors import UserError
from edgeconv.ir import Graph, Node, Tensor, format_graph
from edgeconv.ir import ops
from edgeconv.passes import merge_convs
from edgeconv.reference import run_single

TORCH_CONV = {1: F.conv1d, 2: F.conv2d}


def assert_float_close(actual, reference):
    bound = 1e-4 * max(1.0, float(np.max(np.abs(reference))))
    assert float(np.max(np.abs(actual - reference))) <= bound


@dataclass
class ConvSpec:
    c_out: int
    kernel: tuple
    stride: tuple
    pads: tuple  # IR order: begins..., ends...
    groups: int = 1
    bias: bool = True


def chain_graph(specs, input_shape, rng, activation="clip"):
    """IR graph: conv -> activation -> conv -> ... (activation as a Clip node or a fused clamp)."""
    graph = Graph(name="chain")
    graph.add_tensor(Tensor("x", input_shape))
    graph.inputs = ["x"]
    y, c_in = "x", input_shape[1]
    for i, spec in enumerate(specs):
        r = len(spec.kernel)
        fan_in = c_in // spec.groups * int(np.prod(spec.kernel))
        w = (rng.standard_normal((spec.c_out, c_in // spec.groups, *spec.kernel)) / np.sqrt(fan_in)).astype(np.float32)
        graph.add_tensor(Tensor(f"conv{i}.weight", w.shape, data=w))
        b = None
        if spec.bias:
            b = f"conv{i}.bias"
            graph.add_tensor(Tensor(b, (spec.c_out,), data=rng.standard_normal(spec.c_out).astype(np.float32)))
        last = i == len(specs) - 1
        clamp = (0.0, None) if activation == "clamp" and not last else (None, None)
        op = ops.Conv(stride=spec.stride, pads=spec.pads, dilation=(1,) * r, groups=spec.groups, clamp=clamp)
        shape = op.infer([graph.tensors[y].shape, w.shape, None if b is None else (spec.c_out,)])
        graph.add_tensor(Tensor(f"conv{i}.out", shape))
        graph.add_node(Node(f"conv{i}", op, [y, f"conv{i}.weight", b], f"conv{i}.out"))
        y, c_in = f"conv{i}.out", spec.c_out
        if activation == "clip" and not last:
            graph.add_tensor(Tensor(f"relu{i}.out", shape))
            graph.add_node(Node(f"relu{i}", ops.Clip(0.0, 6.0), [y], f"relu{i}.out"))
            y = f"relu{i}.out"
    graph.outputs = [y]
    return graph


def moved_padding_reference(graph, specs, x):
    """The chain without activations, its padding moved to the input, run by PyTorch."""
    r = len(specs[0].kernel)
    begins, ends, scale = [0] * r, [0] * r, [1] * r
    for spec in specs:
        for d in range(r):
            begins[d] += spec.pads[d] * scale[d]
            ends[d] += spec.pads[r + d] * scale[d]
            scale[d] *= spec.stride[d]
    torch_pads = [p for d in reversed(range(r)) for p in (begins[d], ends[d])]
    y = F.pad(torch.from_numpy(x), torch_pads)
    for i, spec in enumerate(specs):
        w = torch.from_numpy(graph.tensors[f"conv{i}.weight"].data)
        b = torch.from_numpy(graph.tensors[f"conv{i}.bias"].data) if spec.bias else None
        y = TORCH_CONV[r](y, w, b, stride=spec.stride, groups=spec.groups)
    return y.numpy()


def check_merge(specs, input_shape, seed, activation="clip", expected_groups=None):
    rng = np.random.default_rng(seed)
    graph = chain_graph(specs, (1, *input_shape[1:]), rng, activation)
    before = format_graph(graph)
    names = [f"conv{i}" for i in range(len(specs))]

    merged = merge_convs.merge_segment(graph, names)

    assert format_graph(graph) == before
    assert [n.op_name for n in merged.nodes] == ["Conv"]
    node = merged.nodes[0]
    assert node.merged_from == tuple(names)
    assert merged.outputs == graph.outputs
    assert merged.tensors[merged.outputs[0]].shape == graph.tensors[graph.outputs[0]].shape
    r = len(specs[0].kernel)
    kernel, stride = [1] * r, [1] * r
    for spec in specs:
        for d in range(r):
            kernel[d] += (spec.kernel[d] - 1) * stride[d]
            stride[d] *= spec.stride[d]
    assert merged.tensors[node.input("weight")].shape[2:] == tuple(kernel)
    assert node.op.stride == tuple(stride)
    if expected_groups is not None:
        assert node.op.groups == expected_groups
    x = rng.standard_normal(input_shape).astype(np.float32)
    assert_float_close(run_single(merged, x), moved_padding_reference(graph, specs, x))
    return merged


def square(c_out, k, stride=1, pad=0, groups=1, bias=True, rank=2):
    """A conv with the same kernel, stride and padding on every side of every spatial dim."""
    return ConvSpec(c_out, (k,) * rank, (stride,) * rank, (pad,) * (2 * rank), groups, bias)


# case: (convs of the chain, input shape, expected groups of the merged conv)
CASES = {
    "dense_dense_3x3": ([square(8, 3, pad=1), square(5, 3, pad=1)], (2, 3, 9, 8), 1),
    "dense_stride2_then_3x3": ([square(6, 3, 2, 1), square(7, 3, pad=1)], (2, 3, 11, 10), 1),
    "stride2_both_asymmetric_pads": (
        [ConvSpec(5, (3, 2), (2, 2), (0, 1, 1, 0)), ConvSpec(3, (2, 3), (2, 1), (1, 0, 0, 2))], (1, 3, 13, 12), 1),
    "depthwise_depthwise": ([square(6, 3, pad=1, groups=6), square(6, 3, 2, 1, groups=6)], (2, 6, 10, 9), 6),
    "depthwise_multiplier": ([square(6, 3, pad=1, groups=3), square(12, 3, groups=6)], (1, 3, 8, 8), 3),
    "depthwise_then_dense": ([square(5, 3, 2, 1, groups=5), square(7, 1)], (2, 5, 9, 9), 1),
    "dense_then_pointwise": ([square(9, 3, pad=1), square(4, 1, bias=False)], (2, 3, 7, 7), 1),
    "pointwise_then_depthwise": ([square(6, 1, bias=False), square(6, 3, pad=1, groups=6)], (2, 4, 7, 6), 1),
    "grouped_grouped": ([square(6, 3, pad=1, groups=3), square(9, 3, pad=1, groups=3)], (1, 6, 8, 8), 3),
    "three_convs": ([square(4, 3, 2, 1), square(5, 3, pad=1), square(3, 3, 2, 1)], (2, 3, 17, 15), 1),
    "conv1d_stride2": ([square(5, 5, 2, 2, rank=1), square(3, 3, pad=1, rank=1)], (3, 7, 29), 1),
    "depthwise1d_pair": ([square(7, 3, pad=1, groups=7, rank=1), square(7, 5, 2, 2, groups=7, rank=1)], (2, 7, 21), 7),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("activation", ["clip", "clamp"])
def test_merged_equals_chain_without_activations_and_padding_moved(case, activation):
    specs, input_shape, groups = CASES[case]
    check_merge(specs, input_shape, seed=len(case), activation=activation, expected_groups=groups)


def _random_specs(rng):
    r = int(rng.integers(1, 3))
    channels = int(rng.choice([1, 3, 5]))
    specs, c_in = [], channels
    for _ in range(int(rng.integers(2, 4))):
        depthwise = rng.random() < 0.3
        c_out = c_in if depthwise else int(rng.choice([1, 2, 3, 5, 7]))
        kernel = tuple(int(k) for k in rng.integers(1, 4, size=r))
        stride = tuple(int(s) for s in rng.integers(1, 3, size=r))
        pads = tuple(int(rng.integers(0, kernel[i % r])) for i in range(2 * r))
        specs.append(ConvSpec(c_out, kernel, stride, pads, groups=c_in if depthwise else 1, bias=bool(rng.random() < 0.8)))
        c_in = c_out
    spatial = tuple(int(s) for s in rng.integers(12, 20, size=r))
    return specs, (2, channels, *spatial)


@pytest.mark.parametrize("seed", range(24))
def test_merge_random_chains(seed):
    rng = np.random.default_rng(100 + seed)
    specs, input_shape = _random_specs(rng)
    check_merge(specs, input_shape, seed)


def test_merge_inside_a_network_keeps_the_rest():
    rng = np.random.default_rng(5)
    specs = [ConvSpec(4, (3, 3), (1, 1), (1, 1, 1, 1)), ConvSpec(4, (3, 3), (1, 1), (1, 1, 1, 1))]
    graph = chain_graph(specs, (1, 3, 6, 6), rng)
    y = graph.outputs[0]
    graph.add_tensor(Tensor("relu.out", (1, 4, 6, 6)))
    graph.add_node(Node("relu", ops.Clip(0.0, None), [y], "relu.out"))
    graph.add_tensor(Tensor("pool.out", (1, 4, 3, 3)))
    graph.add_node(Node("pool", ops.MaxPool(), ["relu.out"], "pool.out"))
    graph.outputs = ["pool.out"]
    assert merge_convs.conv_chains(graph) == [["conv0", "conv1"]]

    merged = merge_convs.merge_segment(graph, ["conv0", "conv1"])
    assert [n.name for n in merged.nodes] == ["conv0", "relu", "pool"]
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    reference = np.maximum(moved_padding_reference(graph, specs, x), 0)
    reference = reference.reshape(2, 4, 3, 2, 3, 2).max(axis=(3, 5))
    assert_float_close(run_single(merged, x), reference)

    again = merge_convs.merge_segment(merged, ["conv0"])
    assert [n.name for n in again.nodes] == ["conv0", "relu", "pool"]


def test_merging_merged_layers_lists_all_sources():
    rng = np.random.default_rng(6)
    specs = [ConvSpec(3, (3,), (1,), (1, 1)) for _ in range(3)]
    graph = chain_graph(specs, (1, 2, 10), rng)
    first = merge_convs.merge_segment(graph, ["conv0", "conv1"])
    both = merge_convs.merge_segment(first, ["conv0", "conv2"])
    assert both.nodes[0].merged_from == ("conv0", "conv1", "conv2")
    x = rng.standard_normal((2, 2, 10)).astype(np.float32)
    assert_float_close(run_single(both, x), moved_padding_reference(graph, specs, x))


def test_drop_activation_keeps_convs_separate():
    rng = np.random.default_rng(7)
    specs = [ConvSpec(3, (3, 3), (1, 1), (1, 1, 1, 1)), ConvSpec(2, (3, 3), (1, 1), (1, 1, 1, 1))]
    for activation in ("clip", "clamp"):
        graph = chain_graph(specs, (1, 2, 5, 5), rng, activation)
        dropped = merge_convs.drop_activation(graph, "conv0", "conv1")
        assert [n.name for n in dropped.nodes] == ["conv0", "conv1"]
        assert dropped.nodes[0].op.clamp == (None, None)
        linear = chain_graph(specs, (1, 2, 5, 5), np.random.default_rng(0), activation=None)
        for name, tensor in graph.tensors.items():
            if tensor.data is not None:
                linear.tensors[name].data = tensor.data
        x = rng.standard_normal((2, 2, 5, 5)).astype(np.float32)
        np.testing.assert_array_equal(run_single(dropped, x), run_single(linear, x))


def test_unmergeable_segments_are_refused():
    rng = np.random.default_rng(8)
    specs = [ConvSpec(3, (3, 3), (1, 1), (1, 1, 1, 1)), ConvSpec(2, (3, 3), (1, 1), (1, 1, 1, 1))]
    graph = chain_graph(specs, (1, 2, 5, 5), rng)
    branching = graph.copy()
    branching.outputs.append("conv0.out")
    with pytest.raises(UserError, match="single-reader chain"):
        merge_convs.merge_segment(branching, ["conv0", "conv1"])
    with pytest.raises(UserError, match="no node named"):
        merge_convs.merge_segment(graph, ["conv0", "conv9"])
    with pytest.raises(UserError, match="not a Conv"):
        merge_convs.merge_segment(graph, ["conv0", "relu0"])
    dilated = graph.copy()
    dilated.nodes[2].op = ops.Conv(pads=(2, 2, 2, 2), dilation=(2, 2))
    with pytest.raises(UserError, match="dilation"):
        merge_convs.merge_segment(dilated, ["conv0", "conv1"])
    assert merge_convs.conv_chains(branching) == []
