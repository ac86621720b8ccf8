"""Removal of no-op nodes: exact numbers, the no-ops gone, the real ops and output names kept."""

import numpy as np

from edgeconv.ir import Graph, Node, QuantParams, Tensor, format_graph
from edgeconv.ir import ops
from edgeconv.passes import remove_identity
from edgeconv.reference import run_single


def _add(graph, name, op, inputs, dtype="float32", quant=None):
    shape = op.infer([graph.tensors[i].shape for i in inputs])
    graph.add_tensor(Tensor(f"{name}.out", shape, dtype=dtype, quant=quant))
    graph.add_node(Node(name, op, inputs, f"{name}.out"))
    return f"{name}.out"


def _const(graph, name, value):
    return graph.add_tensor(Tensor(name, value.shape, data=np.asarray(value, dtype=np.float32))).name


def _graph(shape):
    graph = Graph(name="noops")
    graph.add_tensor(Tensor("x", shape))
    graph.inputs = ["x"]
    return graph


def test_every_noop_removed_and_output_unchanged():
    rng = np.random.default_rng(0)
    graph = _graph((1, 3, 4, 4))
    y = _add(graph, "reshape_same", ops.Reshape((3, 4, 4)), ["x"])
    y = _add(graph, "clip_open", ops.Clip(None, None), [y])
    y = _add(graph, "pad_zero", ops.Pad((0, 0, 0, 0), value=1.0), [y])
    y = _add(graph, "concat_one", ops.Concat(axis=1), [y])
    y = _add(graph, "maxpool_1", ops.MaxPool(kernel=(1, 1), stride=(1, 1)), [y])
    y = _add(graph, "avgpool_1", ops.AvgPool(kernel=(1, 1), stride=(1, 1)), [y])
    y = _add(graph, "add_zeros", ops.Add(), [_const(graph, "zeros", np.zeros((1, 3, 1, 1))), y])
    y = _add(graph, "mul_ones", ops.Mul(), [y, _const(graph, "ones", np.ones((1, 3, 4, 4)))])
    y = _add(graph, "conv", ops.Conv(), [y, _const(graph, "w", rng.standard_normal((2, 3, 4, 4)))])
    y = _add(graph, "gap_of_1x1", ops.GlobalAvgPool(), [y])
    y = _add(graph, "flatten", ops.Reshape((-1,)), [y])
    y = _add(graph, "mul_two", ops.Mul(), [y, _const(graph, "twos", np.full((2,), 2.0))])
    graph.outputs = [_add(graph, "final_reshape_same", ops.Reshape((2,)), [y])]
    before = format_graph(graph)

    cleaned = remove_identity.run(graph)

    assert [n.name for n in cleaned.nodes] == ["conv", "flatten", "mul_two"]
    assert cleaned.outputs == ["final_reshape_same.out"]
    x = rng.standard_normal((5, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(run_single(cleaned, x), run_single(graph, x))
    assert format_graph(graph) == before


def test_ops_that_change_values_or_shapes_stay():
    graph = _graph((1, 1, 4, 4))
    y = _add(graph, "add_broadcasting_zeros", ops.Add(), ["x", _const(graph, "zeros", np.zeros((1, 3, 4, 4)))])
    y = _add(graph, "pad", ops.Pad((1, 0, 0, 0)), [y])
    y = _add(graph, "clip", ops.Clip(None, 1.0), [y])
    y = _add(graph, "add_clamped", ops.Add(clamp=(0.0, None)), [y, _const(graph, "z", np.zeros(1))])
    y = _add(graph, "pool", ops.MaxPool(kernel=(1, 1), stride=(2, 2)), [y])
    graph.outputs = [_add(graph, "reshape", ops.Reshape((-1,)), [y])]
    assert [n.name for n in remove_identity.run(graph).nodes] == [n.name for n in graph.nodes]


def test_identity_between_graph_ends_stays_and_requantizing_noop_stays():
    graph = _graph((1, 2, 3))
    graph.outputs = [_add(graph, "reshape", ops.Reshape((2, 3)), ["x"])]
    assert [n.name for n in remove_identity.run(graph).nodes] == ["reshape"]

    graph = Graph(name="int8")
    graph.add_tensor(Tensor("q", (1, 2, 3), dtype="int8", quant=QuantParams(0.5, 0)))
    graph.inputs = ["q"]
    a = _add(graph, "clip_requant", ops.Clip(None, None), ["q"], "int8", QuantParams(0.25, 3))
    b = _add(graph, "clip_same", ops.Clip(None, None), [a], "int8", QuantParams(0.25, 3))
    graph.outputs = [_add(graph, "reshape_same", ops.Reshape((2, 3)), [b], "int8", QuantParams(0.25, 3))]
    cleaned = remove_identity.run(graph)
    assert [n.name for n in cleaned.nodes] == ["clip_requant"]
    assert cleaned.nodes[0].output == "reshape_same.out" and cleaned.outputs == ["reshape_same.out"]
