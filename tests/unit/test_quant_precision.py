import numpy as np
import pytest

from edgeconv.errors import UserError
from edgeconv.ir import Graph, Node, Tensor, infer_shapes, ops, verify
from edgeconv.quant.precision import parse_precision, resolve_precisions, uniform_precisions


def three_layer_graph():
    """conv -> conv -> flatten -> linear -> linear."""
    g = Graph(name="p")
    rng = np.random.default_rng(0)

    def const(name, shape):
        g.add_tensor(Tensor(name, shape, data=rng.normal(size=shape).astype(np.float32)))
        return name

    g.add_tensor(Tensor("x", (1, 2, 6, 6)))
    g.inputs = ["x"]
    for name in ("a", "b", "f", "h", "y"):
        g.add_tensor(Tensor(name, (1,)))
    g.add_node(Node("conv1", ops.Conv(pads=(1, 1, 1, 1)), ["x", const("w1", (4, 2, 3, 3))], "a"))
    g.add_node(Node("conv2", ops.Conv(clamp=(0.0, None)), ["a", const("w2", (4, 4, 3, 3))], "b"))
    g.add_node(Node("flat", ops.Reshape(shape=(-1,)), ["b"], "f"))
    g.add_node(Node("fc1", ops.Linear(), ["f", const("wf1", (5, 64))], "h"))
    g.add_node(Node("fc2", ops.Linear(), ["h", const("wf2", (3, 5))], "y"))
    g.outputs = ["y"]
    return verify(infer_shapes(g))


@pytest.mark.parametrize("text, kind, bits", [
    ("fp32", "fp32", (32, 32)), ("INT8", "int8", (8, 8)), ("w8a8", "int8", (8, 8)),
    ("w4a4", "dorefa", (4, 4)), ("w2a8", "dorefa", (2, 8)), ("w7a1", "dorefa", (7, 1)), ("w1a1", "xnor", (1, 1)),
])
def test_parse_precision(text, kind, bits):
    p = parse_precision(text)
    assert p.kind == kind and (p.weight_bits, p.act_bits) == bits


@pytest.mark.parametrize("text", ["int4", "w8a4", "w0a2", "w3a9", "fp16", "w4"])
def test_parse_precision_rejects_with_user_error(text):
    with pytest.raises(UserError, match=text):
        parse_precision(text)


@pytest.mark.parametrize("low", ["w1a1", "w2a2"])
def test_uniform_low_bit_keeps_first_conv_and_last_linear_int8(low):
    names = uniform_precisions(three_layer_graph(), low)
    assert names == {"conv1": "int8", "conv2": low, "flat": "int8", "fc1": low, "fc2": "int8"}


def test_uniform_int8_and_fp32_apply_everywhere():
    g = three_layer_graph()
    assert set(uniform_precisions(g, "int8").values()) == {"int8"}
    assert set(uniform_precisions(g, "fp32").values()) == {"fp32"}


def test_map_precisions_inherit_for_unweighted_nodes_and_must_name_weighted_ones():
    g = three_layer_graph()
    resolved = resolve_precisions(g, {"conv1": "int8", "conv2": "fp32", "fc1": "w4a4", "fc2": "int8"})
    assert resolved["flat"].name == "fp32"  # follows conv2
    assert resolved["fc1"].name == "w4a4"
    with pytest.raises(UserError, match="fc2"):
        resolve_precisions(g, {"conv1": "int8", "conv2": "int8", "fc1": "int8"})
    with pytest.raises(UserError, match="nope"):
        resolve_precisions(g, {"nope": "int8"})
    with pytest.raises(UserError, match="flat"):
        resolve_precisions(g, {"conv1": "int8", "conv2": "int8", "flat": "w2a2", "fc1": "int8", "fc2": "int8"})
