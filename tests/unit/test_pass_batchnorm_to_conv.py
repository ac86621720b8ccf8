"""A BatchNorm that follows no convolution becomes a depthwise 1x1 convolution: the numbers of
PyTorch's BatchNorm in eval mode, no BatchNorm left, and the float clean-up pipeline runs it."""

import numpy as np
import pytest
import torch
from torch import nn

from edgeconv.ir import Graph, Node, Tensor, format_graph, ops
from edgeconv.passes import batchnorm_to_conv
from edgeconv.passes.pipeline import prepare
from edgeconv.reference import run_single


def _bn_after(first_op, input_shape: tuple, channels: int, seed: int = 0):
    """``first_op -> BatchNorm`` over an input of ``input_shape``, and the torch BatchNorm module."""
    generator = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(channels) if len(input_shape) == 4 else nn.BatchNorm1d(channels)
    with torch.no_grad():
        bn.weight.uniform_(-1.5, 1.5, generator=generator)  # negative scales too
        bn.bias.uniform_(-1, 1, generator=generator)
        bn.running_mean.uniform_(-1, 1, generator=generator)
        bn.running_var.uniform_(0.2, 2.0, generator=generator)
    bn.eps = 1e-3
    graph = Graph(name="bn")
    graph.add_tensor(Tensor("x", input_shape))
    graph.inputs = ["x"]
    src = "x"
    if first_op is not None:
        graph.add_tensor(Tensor("first.out", first_op.infer([input_shape])))
        graph.add_node(Node("first", first_op, ["x"], "first.out"))
        src = "first.out"
    params = []
    for slot, value in (("gamma", bn.weight), ("beta", bn.bias), ("mean", bn.running_mean), ("var", bn.running_var)):
        params.append(graph.add_tensor(Tensor(f"bn.{slot}", (channels,), data=value.detach().numpy().copy())).name)
    shape = graph.tensors[src].shape
    graph.add_tensor(Tensor("bn.out", shape))
    graph.add_node(Node("bn", ops.BatchNorm(eps=bn.eps), [src, *params], "bn.out", source="model.py:7"))
    graph.outputs = ["bn.out"]
    return graph, bn.eval()


CASES = {
    "after_the_input": (None, (1, 5, 6, 7)),
    "after_a_max_pool": (ops.MaxPool(kernel=(2, 2), stride=(2, 2)), (1, 4, 8, 8)),
    "after_a_relu_1d": (ops.Clip(0.0, None), (1, 3, 11)),
    "features_2d": (ops.Clip(None, 1.0), (1, 6)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rewritten_batchnorm_matches_pytorch(case):
    first_op, shape = CASES[case]
    graph, bn = _bn_after(first_op, shape, shape[1])
    before = format_graph(graph)

    rewritten = batchnorm_to_conv.run(graph)

    assert not any(n.op_name == "BatchNorm" for n in rewritten.nodes)
    convs = [n for n in rewritten.nodes if n.op_name == "Conv"]
    assert [(c.name, c.source, c.op.groups) for c in convs] == [("bn", "model.py:7", shape[1])]
    assert rewritten.tensors[convs[0].input("weight")].shape[2:] == (1,) * max(len(shape) - 2, 1)
    assert rewritten.outputs == graph.outputs and format_graph(graph) == before
    x = np.random.default_rng(1).normal(size=(3, *shape[1:])).astype(np.float32) * 2
    with torch.no_grad():
        expected = bn(torch.from_numpy(x if first_op is None else _first(graph, x))).numpy()
    bound = 1e-4 * max(1.0, float(np.abs(expected).max()))
    assert np.abs(run_single(rewritten, x) - expected).max() <= bound


def _first(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The BatchNorm's input: the graph cut after its first node."""
    cut = graph.copy()
    cut.nodes = cut.nodes[:1]
    cut.outputs = ["first.out"]
    return run_single(cut.prune(), x)


def test_prepare_fuses_a_following_relu_into_the_rewritten_batchnorm():
    graph, _ = _bn_after(ops.MaxPool(kernel=(2, 2), stride=(2, 2)), (1, 4, 8, 8), 4)
    graph.add_tensor(Tensor("relu.out", (1, 4, 4, 4)))
    graph.add_node(Node("relu", ops.Clip(0.0, None), ["bn.out"], "relu.out"))
    graph.outputs = ["relu.out"]
    prepared = prepare(graph)
    assert [(n.op_name, getattr(n.op, "clamp", None)) for n in prepared.nodes] == [
        ("MaxPool", None), ("Conv", (0.0, None))]
