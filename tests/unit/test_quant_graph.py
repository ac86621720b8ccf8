import numpy as np
import pytest

from edgeconv.errors import UserError
from edgeconv.ir import Graph, Node, Tensor, infer_shapes, ops, verify
from edgeconv.quant.calibrate import calibrate
from edgeconv.quant.fixedpoint import quantize_multipliers, requantize
from edgeconv.quant.quantize_graph import prepare_for_quantization, quantize_graph
from edgeconv.quant.precision import resolve_precisions
from edgeconv.quant.quantizers import XnorWeightQuantizer, binary_params, dorefa_params
from edgeconv.reference import executor


class Builder:
    """A float graph built layer by layer with seeded random weights."""

    def __init__(self, shape, seed=0):
        self.g = Graph(name="q")
        self.rng = np.random.default_rng(seed)
        self.g.add_tensor(Tensor("x", shape))
        self.g.inputs = ["x"]
        self.last = "x"

    def _const(self, name, shape, scale):
        self.g.add_tensor(Tensor(name, shape, data=self.rng.normal(0, scale, shape).astype(np.float32)))
        return name

    def node(self, name, op, inputs=None, consts=()):
        inputs = [self.last] if inputs is None else inputs
        self.g.add_tensor(Tensor(name + ".out", (1,)))
        self.g.add_node(Node(name, op, list(inputs) + list(consts), name + ".out"))
        infer_shapes(self.g)
        self.last = name + ".out"
        return self.last

    def conv(self, name, c_out, k=3, pads=1, clamp=(None, None), groups=1, src=None, bias=True):
        src = src or self.last
        c_in = self.g.tensors[src].shape[1]
        w = self._const(name + ".w", (c_out, c_in // groups, k, k), 1.0 / np.sqrt(c_in * k * k / groups))
        consts = [w] + ([self._const(name + ".b", (c_out,), 0.1)] if bias else [])
        return self.node(name, ops.Conv(pads=(pads,) * 4, clamp=clamp, groups=groups), [src], consts)

    def linear(self, name, n_out, clamp=(None, None)):
        n_in = self.g.tensors[self.last].shape[1]
        consts = [self._const(name + ".w", (n_out, n_in), 1.0 / np.sqrt(n_in)), self._const(name + ".b", (n_out,), 0.1)]
        return self.node(name, ops.Linear(clamp=clamp), consts=consts)

    def done(self):
        self.g.outputs = [self.last]
        return verify(self.g)


def cnn(seed=0):
    b = Builder((1, 2, 8, 8), seed)
    b.conv("conv1", 8, clamp=(0.0, None))
    b.node("pool1", ops.MaxPool())
    h2 = b.conv("conv2", 12, clamp=(0.0, 6.0))
    h3 = b.conv("dw3", 12, groups=12, bias=False)
    b.node("add3", ops.Add(clamp=(0.0, None)), [h2, h3])
    b.node("gap", ops.GlobalAvgPool(keepdims=False))
    b.linear("fc", 5)
    return b.done()


X = np.random.default_rng(3).uniform(0, 1, (200, 2, 8, 8)).astype(np.float32)


def node_of(graph, output):
    return graph.producer(output)


def test_int8_structure_follows_the_quantized_ir_convention():
    g = cnn()
    q = quantize_graph(g, X, "int8")
    assert q.inputs == ["x"] and q.outputs == g.outputs
    assert q.tensors["x"].dtype == "float32" and q.tensors[q.outputs[0]].dtype == "float32"
    assert q.nodes[0].op_name == "Quantize" and q.nodes[-1].op_name == "Dequantize"
    for node in q.nodes:
        if node.op_name not in ("Conv", "Linear"):
            continue
        assert node.precision == "int8"
        x, w = q.tensors[node.inputs[0]], q.tensors[node.inputs[1]]
        assert x.dtype == "int8" and w.dtype == "int8" and w.quant.axis == 0
        assert np.all(w.quant.zero_point == 0) and np.abs(w.data).max() == 127
        if len(node.inputs) > 2 and node.inputs[2] is not None:
            b, src_b = q.tensors[node.inputs[2]], g.tensors[node.inputs[2]]
            product = x.quant.scale[0] * w.quant.scale  # float64 of the float32 scales
            np.testing.assert_array_equal(b.quant.scale, product.astype(np.float32))
            expected = np.sign(src_b.data) * np.floor(np.abs(src_b.data / product) + 0.5)
            np.testing.assert_array_equal(b.data, expected.astype(np.int32))
            assert b.dtype == "int32"
    # MaxPool keeps its input's params; ReLU6 gives exactly [0, 6]; real 0 is exact everywhere.
    assert q.tensors["pool1.out"].quant == q.tensors["conv1.out"].quant
    relu6 = q.tensors["conv2.out"].quant
    assert int(relu6.zero_point[0]) == -128 and relu6.scale[0] == np.float32(6.0 / 255)


def test_int8_outputs_track_the_float_model():
    g = cnn()
    q = quantize_graph(g, X, "int8")
    ref = executor.run_single(g, X)
    out = executor.run_single(q, X)
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.95


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse"])
def test_every_calibration_method_quantizes(method):
    q = quantize_graph(cnn(), X, "int8", method=method)
    assert q.metadata["calibration"] == method
    assert executor.run_single(q, X[:4]).shape == (4, 5)


def test_dorefa_layer_input_is_on_the_dorefa_grid_and_a_shared_tensor_keeps_int8():
    g = cnn()
    q = quantize_graph(g, X, {"conv1": "int8", "conv2": "w4a4", "dw3": "w2a4", "fc": "int8"})
    conv2, dw3 = q.node("conv2"), q.node("dw3")
    assert conv2.precision == "w4a4" and dw3.precision == "w2a4"
    assert q.tensors[conv2.inputs[0]].quant == dorefa_params(4)  # the MaxPool/conv1 group
    assert q.tensors["conv1.out"].quant == dorefa_params(4)
    assert q.tensors[dw3.inputs[0]].quant == dorefa_params(4)
    weights = q.tensors[dw3.inputs[1]].data.astype(int)
    assert set(np.unique(weights)) <= {-3, -1, 1, 3}
    # conv1 -> pool1 is read by conv2 only: conv1 requantizes straight onto the grid. conv2's
    # output is also read by the Add: it stays int8 and dw3 reads a requantized copy.
    requants = [n for n in q.nodes if n.op_name == "Quantize" and q.tensors[n.inputs[0]].dtype == "int8"]
    assert [n.inputs[0] for n in requants] == ["conv2.out"] and requants[0].output == dw3.inputs[0]
    assert q.tensors["conv2.out"].quant.levels == 256
    codes = executor.run(q, X, keep=True)["conv1.out"]
    assert codes.min() >= -128 and codes.max() <= -128 + 15


def test_conflicting_dorefa_bits_insert_requantizations():
    b = Builder((1, 2, 6, 6))
    h = b.conv("c1", 4, clamp=(0.0, None))
    a = b.conv("c2", 4, src=h)
    c = b.conv("c3", 4, src=h)
    b.node("sum", ops.Add(), [a, c])
    q = quantize_graph(b.done(), X[:50, :, :6, :6], {"c1": "int8", "c2": "w2a2", "c3": "w4a4"})
    requant = [n for n in q.nodes if n.op_name == "Quantize" and q.tensors[n.inputs[0]].dtype == "int8"]
    assert len(requant) == 2 and q.tensors["c1.out"].quant.levels == 256
    assert {q.tensors[q.node(n).inputs[0]].quant.levels for n in ("c2", "c3")} == {4, 16}
    assert executor.run_single(q, X[:3, :, :6, :6]).shape == (3, 4, 6, 6)


def test_xnor_layer_binarizes_its_input_and_one_pads():
    q = quantize_graph(cnn(), X, {"conv1": "int8", "conv2": "w1a1", "dw3": "int8", "fc": "int8"})
    conv2 = q.node("conv2")
    pad = node_of(q, conv2.inputs[0])
    sign = node_of(q, pad.inputs[0])
    assert (pad.op_name, pad.op.value, pad.op.pads) == ("Pad", 1.0, (1, 1, 1, 1))
    assert sign.op_name == "Sign" and conv2.op.pads == (0, 0, 0, 0)
    assert q.tensors[sign.output].quant == binary_params() and q.tensors[pad.output].quant == binary_params()
    assert set(np.unique(q.tensors[conv2.inputs[1]].data)) == {-1, 1}


def test_xnor_conv_equals_an_independent_binary_convolution():
    """acc = sum(sign(a) * sign(w)) over a +1-padded window, + bias, then TFLite requantization."""
    q = quantize_graph(cnn(), X, {"conv1": "int8", "conv2": "w1a1", "dw3": "int8", "fc": "int8"})
    values = executor.run(q, X[:20], keep=True)
    conv2 = q.node("conv2")
    codes = values["pool1.out"].astype(np.int64)
    zp_in = int(q.tensors["pool1.out"].quant.zero_point[0])
    signs = np.pad(np.where(codes >= zp_in, 1, -1), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=1)
    w = q.tensors[conv2.inputs[1]].data.astype(np.int64)
    n, _, hgt, wid = codes.shape
    acc = np.zeros((n, w.shape[0], hgt, wid), np.int64)
    for i in range(hgt):
        for j in range(wid):
            acc[:, :, i, j] = np.einsum("nckl,ockl->no", signs[:, :, i:i + 3, j:j + 3], w)
    acc += q.tensors[conv2.inputs[2]].data.reshape(1, -1, 1, 1)
    out_q = q.tensors[conv2.output].quant
    mult, shift = quantize_multipliers(1.0 * q.tensors[conv2.inputs[1]].quant.scale / out_q.scale[0])
    qhi = min(127, int(out_q.zero_point[0]) + int(np.floor(6.0 / np.float32(out_q.scale[0]) + 0.5)))
    expected = requantize(acc, mult.reshape(1, -1, 1, 1), shift.reshape(1, -1, 1, 1), int(out_q.zero_point[0]),
                          int(out_q.zero_point[0]), qhi)
    np.testing.assert_array_equal(values[conv2.output], expected)


def test_binarizing_a_folded_weight_moves_the_batchnorm_scale_into_alpha():
    w = np.random.default_rng(5).normal(size=(6, 3, 3, 3))
    k = np.array([2.0, -0.5, 1.0, -3.0, 0.1, 7.0])
    plain, folded = XnorWeightQuantizer().integer(w), XnorWeightQuantizer().integer(w * k.reshape(-1, 1, 1, 1))
    np.testing.assert_array_equal(folded.values, plain.values * np.sign(k).reshape(-1, 1, 1, 1).astype(np.int8))
    np.testing.assert_allclose(folded.scales, plain.scales * np.abs(k), rtol=1e-6)


def test_fp32_layer_sits_between_dequantize_and_quantize():
    q = quantize_graph(cnn(), X, {"conv1": "int8", "conv2": "fp32", "dw3": "int8", "fc": "int8"})
    conv2 = q.node("conv2")
    assert conv2.precision == "fp32" and q.tensors[conv2.output].dtype == "float32"
    assert node_of(q, conv2.inputs[0]).op_name == "Dequantize"
    consumers = q.consumers(conv2.output)
    assert any(n.op_name == "Quantize" for n in consumers)  # dw3 reads it quantized
    assert all(n.op_name == "Quantize" or n.precision == "fp32" for n in consumers)
    add = q.node("add3")  # follows its first input's layer: fp32, reads dw3 dequantized
    assert add.precision == "fp32" and node_of(q, add.inputs[1]).op_name == "Dequantize"
    ref = executor.run_single(cnn(), X)
    assert (executor.run_single(q, X).argmax(1) == ref.argmax(1)).mean() >= 0.95


def test_softmax_output_takes_the_tflite_probability_grid():
    b = Builder((1, 6))
    b.linear("fc", 4)
    b.node("soft", ops.Softmax(axis=1))
    q = quantize_graph(b.done(), np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32), "int8")
    p = q.tensors["soft.out_q"].quant
    assert p.scale[0] == np.float32(1 / 256) and int(p.zero_point[0]) == -128


def residual_net():
    """stem -> [c1 -> c2] + stem (ReLU) -> c3: a residual stream read by a conv and an Add."""
    b = Builder((1, 2, 8, 8))
    stem = b.conv("stem", 4, clamp=(0.0, None))
    b.conv("c1", 4, clamp=(0.0, None))
    c2 = b.conv("c2", 4)
    b.node("add", ops.Add(clamp=(0.0, None)), [c2, stem])
    b.conv("c3", 3)
    return b.done()


def squeeze_excite_net():
    """d = conv (ReLU6); y = d * sigmoid(conv(gap(d))); out = conv(y): d feeds a pool and a Mul."""
    b = Builder((1, 2, 8, 8))
    d = b.conv("d", 4, clamp=(0.0, 6.0))
    b.node("gap", ops.GlobalAvgPool(keepdims=True), [d])
    b.conv("reduce", 4, k=1, pads=0)
    gate = b.node("gate", ops.Sigmoid())
    b.node("mul", ops.Mul(), [d, gate])
    b.conv("project", 3)
    return b.done()


def test_preparation_divides_the_ranges_of_the_tensors_it_rescales():
    g = cnn()
    resolved = resolve_precisions(g, {"conv1": "int8", "conv2": "w4a4", "dw3": "int8", "fc": "int8"})
    prepared, ranges = prepare_for_quantization(g, X, resolved)
    assert prepared.tensors["conv1.w"].data is not g.tensors["conv1.w"].data  # pool1.out was rescaled
    observed = calibrate(prepared, X)  # the ranges describe the rescaled graph
    assert set(ranges) == set(observed)
    for name, r in observed.items():
        assert (ranges[name].lo, ranges[name].hi) == pytest.approx((r.lo, r.hi), rel=1e-5, abs=1e-7)


def test_squeeze_excitation_input_keeps_int8_grid():
    g = squeeze_excite_net()
    precisions = {"d": "int8", "reduce": "w4a4", "project": "w4a4"}
    q = quantize_graph(g, X, precisions)
    # the Mul reads d, so d and its pool stay int8; the DoReFa conv reads a requantized copy
    assert q.tensors[q.node("d").output].quant.levels == 256
    assert q.tensors[q.node("gap").output].quant.levels == 256
    assert q.tensors[q.node("reduce").inputs[0]].quant == dorefa_params(4)


def test_batchnorm_left_in_the_graph_is_refused():
    b = Builder((1, 2, 4, 4))
    b.conv("c", 2)
    consts = []
    for name, value in (("g", 1.0), ("be", 0.0), ("m", 0.0), ("v", 1.0)):
        b.g.add_tensor(Tensor(name, (2,), data=np.full(2, value, np.float32)))
        consts.append(name)
    b.node("bn", ops.BatchNorm(), consts=consts)
    with pytest.raises(UserError, match="BatchNorm"):
        quantize_graph(b.done(), X[:4, :, :4, :4], "int8")


def test_relu_before_a_binary_layer_gives_way_to_the_sign():
    q = quantize_graph(cnn(), X, {"conv1": "int8", "conv2": "w1a1", "dw3": "int8", "fc": "int8"})
    assert q.node("conv1").op.clamp == (None, None)  # read (through the pool) by conv2 only
    assert q.node("conv2").op.clamp == (0.0, 6.0)  # read by dw3 and add3, int8: kept
    signs = executor.run(q, X[:20], keep=True)[q.node("binarize_pool1.out").output]
    assert set(np.unique(signs)) == {-1, 1}


def test_a_relu_output_shared_with_other_readers_is_split_for_binary_layers():
    b = Builder((1, 2, 6, 6))
    h = b.conv("c1", 4, clamp=(0.0, None))
    a = b.conv("c2", 4, src=h)
    b.node("sum", ops.Add(clamp=(0.0, None)), [a, h])
    g = b.done()
    x = X[:50, :, :6, :6]
    q = quantize_graph(g, x, {"c1": "int8", "c2": "w1a1"})
    relu = q.producer("c1.out")
    assert relu.op_name == "Clip" and relu.inputs[0] == "c1.out_preact" and relu.precision == "int8"
    assert q.tensors[relu.inputs[0]].quant == q.tensors[relu.output].quant  # a clamp of raw values
    assert q.node("c1").op.clamp == (None, None)
    assert q.producer(q.producer(q.node("c2").inputs[0]).inputs[0]).inputs[0] == "c1.out_preact"
    assert q.node("sum").inputs[1] == "c1.out"
    assert executor.run_single(q, x).shape == (50, 4, 6, 6)


def pooled_relu_net():
    """A squeeze-excitation gate computed by a binary 1x1 conv from the pooled ReLU output, which
    is never negative (the ReLU stays: the gated Mul reads it too)."""
    b = Builder((1, 2, 8, 8), seed=4)
    h = b.conv("conv1", 8, clamp=(0.0, None))
    b.node("gap", ops.GlobalAvgPool(keepdims=True))
    b.conv("reduce", 8, k=1, pads=0)
    gate = b.node("gate", ops.Hardsigmoid())
    b.node("mul", ops.Mul(), [h, gate])
    b.node("gap2", ops.GlobalAvgPool(keepdims=False))
    b.linear("fc", 5)
    return b.done()


def test_a_never_negative_input_is_binarized_above_zero():
    """sign(x >= 0) of a pooled ReLU output is +1 everywhere; the threshold lies halfway between
    two grid values at the calibrated mean, and the signs vary."""
    q = quantize_graph(pooled_relu_net(), X, {"conv1": "int8", "reduce": "w1a1", "fc": "int8"})
    sign = q.producer(q.node("reduce").inputs[0])
    scale = float(q.tensors[sign.inputs[0]].quant.scale[0])
    steps = sign.op.threshold / scale + 0.5
    assert steps >= 1 and abs(steps - round(steps)) < 1e-9
    values = executor.run(q, X, keep=True)
    mean = float(np.mean(scale * (values[sign.inputs[0]].astype(np.float64) - q.tensors[sign.inputs[0]].quant.zero_point[0])))
    assert abs(sign.op.threshold - mean) <= scale
    signs = values[sign.output]
    assert set(np.unique(signs)) == {-1, 1}


def test_a_signed_input_keeps_the_threshold_zero():
    q = quantize_graph(cnn(), X, {"conv1": "int8", "conv2": "w1a1", "dw3": "int8", "fc": "int8"})
    assert q.node("binarize_pool1.out").op.threshold == 0.0


def test_ranges_after_binary_layers_follow_the_quantized_layers():
    """With XNOR layers each tensor's grid spans what the quantized graph computes there (the float
    model's binary-layer outputs are unlike the binary layers'), and the graph's output keeps the
    float model's range."""
    graph = cnn()
    precisions = {"conv1": "int8", "conv2": "w1a1", "dw3": "int8", "fc": "int8"}
    q = quantize_graph(graph, X, precisions)
    values = executor.run(q, X, keep=True)
    add3 = q.tensors["add3.out"]  # the residual sum after the binary conv2
    real = add3.quant.scale[0] * (values["add3.out"].astype(np.float64) - add3.quant.zero_point[0])
    top = add3.quant.scale[0] * (add3.quant.qmax - add3.quant.zero_point[0])
    assert real.max() >= 0.9 * top  # the values reach the grid's top
    assert top > 1.5 * calibrate(graph, X)["add3.out"].hi  # which the float model's range would cut
    float_range = calibrate(graph, X)["fc.out"]
    out = q.tensors[q.producer("fc.out").inputs[0]].quant
    assert out.scale[0] == pytest.approx((float_range.hi - min(float_range.lo, 0.0)) / 255, rel=1e-6)
