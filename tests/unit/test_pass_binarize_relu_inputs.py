"""Binary layers binarize the pre-activation of a ReLU: the clamp is dropped when only binary layers
read it (through pools and reshapes), else split into an explicit Clip for the other readers."""

import numpy as np

from edgeconv.ir import format_graph, ops
from edgeconv.passes import binarize_relu_inputs
from edgeconv.reference import executor
from test_quant_graph import X, Builder, cnn


def test_a_relu_read_only_by_a_binary_layer_is_dropped():
    g = cnn()
    out = binarize_relu_inputs.run(g, {"conv2"})
    assert out.node("conv1").op.clamp == (None, None)  # read, through the pool, by conv2 only
    assert out.node("conv2").op.clamp == (0.0, 6.0)  # read by dw3 and add3: kept
    assert g.node("conv1").op.clamp == (0.0, None)  # the argument is untouched
    assert [n.name for n in out.nodes] == [n.name for n in g.nodes]


def shared_relu_net():
    b = Builder((1, 2, 6, 6))
    h = b.conv("c1", 4, clamp=(0.0, None))
    a = b.conv("c2", 4, src=h)
    b.node("sum", ops.Add(clamp=(0.0, None)), [a, h])
    return b.done()


def test_a_relu_shared_with_other_readers_becomes_a_clip_after_the_pre_activation():
    g = shared_relu_net()
    out = binarize_relu_inputs.run(g, {"c2"})
    relu = out.producer("c1.out")
    assert isinstance(relu.op, ops.Clip) and (relu.op.lo, relu.op.hi) == (0.0, None)
    assert relu.inputs == ["c1.out_preact"] and out.node("c1").output == "c1.out_preact"
    assert out.node("c1").op.clamp == (None, None)
    assert out.node("c2").inputs[0] == "c1.out_preact" and out.node("sum").inputs[1] == "c1.out"
    values = executor.run(out, X[:8, :, :6, :6], keep=True)
    np.testing.assert_array_equal(values["c1.out"], np.maximum(values["c1.out_preact"], 0))
    reference = executor.run(g, X[:8, :, :6, :6], keep=True)
    np.testing.assert_array_equal(values["c1.out"], reference["c1.out"])


def test_without_binary_layers_the_graph_is_unchanged():
    g = shared_relu_net()
    assert format_graph(binarize_relu_inputs.run(g, set())) == format_graph(g)


def test_a_relu_reaching_a_graph_output_is_kept():
    g = shared_relu_net()
    g.outputs = ["sum.out", "c1.out"]
    out = binarize_relu_inputs.run(g, {"c2"})
    assert out.node("c1").op.clamp == (0.0, None) and out.node("c2").inputs[0] == "c1.out"
    assert len(out.nodes) == len(g.nodes)
