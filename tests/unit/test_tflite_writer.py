"""The TFLite writer: TFLite Micro runs every written model exactly as the reference executor does.

Small float IR graphs are built here, quantized with ``quantize_graph`` (int8, DoReFa w4a4 / w2a2,
XNOR w1a1), written as .tflite and run on the real TFLite Micro and LiteRT interpreters:
TFLM's int8 output equals the reference executor's byte for byte; LiteRT agrees on top-1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tflite
from tflite.BuiltinOperator import BuiltinOperator as B

from edgeconv import __version__
from edgeconv.backends.tflite import build_tflite, model_io, to_channels_first, to_channels_last
from edgeconv.frontend.tflite import load_tflite
from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.quant.quantizers import sign_threshold
from edgeconv.quant.single_rounding import with_single_rounding
from edgeconv.reference import executor
from edgeconv.runtimes import litert, tflm

QUANTIZED = ("int8", "w4a4", "w2a2", "w1a1")
MLPERF = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny"
FLOAT_RTOL = 1e-4


class GraphBuilder:
    """Builds a float IR graph layer by layer from one input, with seeded random weights."""

    def __init__(self, shape: tuple, seed: int = 0, name: str = "model"):
        self.graph = Graph(name=name)
        self.rng = np.random.default_rng(seed)
        self.graph.add_tensor(Tensor("x", shape))
        self.graph.inputs = ["x"]
        self.current = "x"
        self.count = 0

    def _const(self, base: str, data: np.ndarray) -> str:
        name = self.graph.unique_name(base)
        self.graph.add_tensor(Tensor(name, data.shape, data=data.astype(np.float32)))
        return name

    def node(self, op, inputs: list | None = None, name: str | None = None) -> str:
        inputs = inputs or [self.current]
        self.count += 1
        name = name or f"{op.NAME.lower()}{self.count}"
        shape = op.infer([None if i is None else self.graph.tensors[i].shape for i in inputs])
        out = self.graph.unique_name(f"{name}_out")
        self.graph.add_tensor(Tensor(out, shape))
        self.graph.add_node(Node(name, op, inputs, out))
        self.current = out
        return out

    def conv(self, c_out: int, k: int = 3, stride: int = 1, pads=None, groups: int = 1,
             dilation: int = 1, clamp=(0.0, None), src: str | None = None) -> str:
        src = src or self.current
        x = self.graph.tensors[src].shape
        r = len(x) - 2
        pads = ((k // 2) * dilation,) * (2 * r) if pads is None else tuple(pads)
        w = self._const("w", self.rng.normal(size=(c_out, x[1] // groups, *(k,) * r)) * (1.5 / np.sqrt(k ** r * x[1] / groups)))
        b = self._const("b", self.rng.normal(size=c_out) * 0.1)
        op = ops.Conv(stride=(stride,) * r, pads=pads, dilation=(dilation,) * r, groups=groups, clamp=clamp)
        return self.node(op, [src, w, b])

    def linear(self, out: int, clamp=(None, None)) -> str:
        x = self.graph.tensors[self.current].shape
        w = self._const("w", self.rng.normal(size=(out, x[1])) / np.sqrt(x[1]))
        b = self._const("b", self.rng.normal(size=out) * 0.1)
        return self.node(ops.Linear(clamp=clamp), [self.current, w, b])

    def finish(self) -> Graph:
        self.graph.outputs = [self.current]
        return self.graph


def convnet(depthwise: bool = True, seed: int = 0) -> Graph:
    g = GraphBuilder((1, 3, 10, 10), seed)
    g.conv(8)
    if depthwise:
        g.conv(8, stride=2, groups=8, clamp=(0.0, 6.0))
    else:
        g.node(ops.MaxPool())
    g.conv(16)
    g.node(ops.GlobalAvgPool())
    g.node(ops.Reshape((-1,)))
    g.linear(6)
    return g.finish()


def residual_net(seed: int = 1) -> Graph:
    """Residual add with ReLU, strided conv with PyTorch pads (not TFLite SAME), average pooling
    and a flatten of a spatial tensor (channels-first order)."""
    g = GraphBuilder((1, 4, 9, 9), seed)
    a = g.conv(8)
    g.conv(8, clamp=(None, None))
    g.node(ops.Add(clamp=(0.0, None)), [a, g.current])
    g.conv(8, stride=2, pads=(1, 1, 1, 1))
    g.node(ops.AvgPool(kernel=(2, 2), stride=(2, 2)))
    g.node(ops.Reshape((-1,)))
    g.linear(5)
    return g.finish()


def conv1d_net(seed: int = 2) -> Graph:
    g = GraphBuilder((1, 3, 16), seed)
    g.conv(8, k=5)
    g.node(ops.MaxPool(kernel=(2,), stride=(2,), pads=(0, 0), dilation=(1,)))
    g.conv(8, k=3, dilation=2)
    g.node(ops.Reshape((-1,)))
    g.linear(4)
    return g.finish()


def activation_net(seed: int = 3) -> Graph:
    """Activations with TFLite builtins (HARD_SWISH, LOGISTIC, LEAKY_RELU), lookup tables
    (Hardsigmoid, SiLU, Gelu in both forms), a concat of two branches, a hardtanh clamp and a
    softmax."""
    g = GraphBuilder((1, 3, 8, 8), seed)
    g.conv(6, clamp=(None, None))
    trunk = g.node(ops.Hardswish())
    g.node(ops.Sigmoid())
    left = g.conv(4, clamp=(-1.0, 1.0))
    g.conv(4, clamp=(None, None), src=trunk)
    g.node(ops.LeakyRelu(alpha=0.1))
    g.node(ops.Gelu())
    g.node(ops.Hardsigmoid())
    g.node(ops.SiLU())
    right = g.node(ops.Gelu(approximate="tanh"))
    g.node(ops.Concat(axis=1), [left, right])
    g.node(ops.GlobalAvgPool(keepdims=False))
    g.linear(5, clamp=(-2.5, 2.5))
    g.node(ops.Softmax(axis=1))
    return g.finish()


def calibration(graph: Graph, n: int = 24, seed: int = 7) -> np.ndarray:
    shape = graph.tensors[graph.inputs[0]].shape
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, *shape[1:])).astype(np.float32)


def tflite_feeds_and_reference(graph: Graph, x: np.ndarray) -> tuple:
    """(int8 or float input in the .tflite's layout, the reference value of its output)."""
    io = model_io(graph)
    values = executor.run(graph, x, keep=True)
    return to_channels_last(values[io.inputs[0]]), values[io.outputs[0]]


def write(graph: Graph, tmp_path, metadata=None):
    path = tmp_path / f"{graph.name}.tflite"
    path.write_bytes(build_tflite(graph, metadata or {}))
    return path


def assert_tflm_exact(graph: Graph, tmp_path, samples: int = 6) -> np.ndarray:
    x = calibration(graph, samples, seed=11)
    feed, reference = tflite_feeds_and_reference(graph, x)
    path = write(graph, tmp_path)
    got = to_channels_first(np.asarray(tflm.run(path, feed)))
    if reference.dtype == np.int8:
        np.testing.assert_array_equal(got, reference)
    else:
        tolerance = FLOAT_RTOL * max(1.0, float(np.abs(reference).max()))
        assert np.abs(got - reference).max() <= tolerance
    return got


@pytest.mark.parametrize("precision", QUANTIZED)
@pytest.mark.parametrize("depthwise", [True, False], ids=["depthwise", "maxpool"])
def test_quantized_convnet_tflm_equals_reference(tmp_path, precision, depthwise):
    graph = quantize_graph(convnet(depthwise), calibration(convnet(depthwise)), precision)
    for stored in (graph, with_single_rounding(graph)):
        got = assert_tflm_exact(stored, tmp_path)
        assert got.dtype == np.int8


@pytest.mark.parametrize("precision", ("int8", "w4a4"))
def test_residual_net_tflm_equals_reference(tmp_path, precision):
    """Also stored for single rounding: the int8 -> int8 requantization of the residual stream onto
    the DoReFa grid is then a unit depthwise convolution."""
    graph = residual_net()
    quantized = quantize_graph(graph, calibration(graph), precision)
    assert_tflm_exact(quantized, tmp_path)
    assert_tflm_exact(with_single_rounding(quantized), tmp_path)


@pytest.mark.parametrize("precision", ("int8", "w2a2", "w1a1"))
def test_conv1d_tflm_equals_reference(tmp_path, precision):
    graph = conv1d_net()
    assert_tflm_exact(quantize_graph(graph, calibration(graph), precision), tmp_path)


def test_activations_tflm_equals_reference(tmp_path):
    graph = activation_net()
    assert_tflm_exact(quantize_graph(graph, calibration(graph), "int8"), tmp_path)


@pytest.mark.parametrize("build", [convnet, residual_net, conv1d_net, activation_net])
def test_float_models_within_float_tolerance(tmp_path, build):
    assert_tflm_exact(build(), tmp_path)


def _litert_top1_agreement(tmp_path, precision: str, op_resolver: str, single_rounding: bool = False) -> float:
    graph = quantize_graph(convnet(), calibration(convnet()), precision)
    if single_rounding:
        graph = with_single_rounding(graph)
    x = calibration(graph, 16, seed=5)
    feed, reference = tflite_feeds_and_reference(graph, x)
    got = np.asarray(litert.run(write(graph, tmp_path), feed, op_resolver=op_resolver))
    assert got.dtype == np.int8
    return float(np.mean(got.argmax(axis=1) == reference.argmax(axis=1)))


@pytest.mark.parametrize("precision", QUANTIZED)
def test_litert_builtin_kernels_agree_on_top1(tmp_path, precision):
    assert _litert_top1_agreement(tmp_path, precision, "builtin") >= 0.98


@pytest.mark.parametrize("precision", QUANTIZED)
def test_litert_xnnpack_agrees_on_top1(tmp_path, precision):
    """XNNPACK (LiteRT's default) requantizes in fp32, rounding once. Stored for single rounding
    (what ``compress`` ships), the DoReFa conv -> conv chains of these random nets round alike in
    XNNPACK and TFLite (as quantized, they land tens of LSB apart)."""
    assert _litert_top1_agreement(tmp_path, precision, "xnnpack", single_rounding=True) >= 0.98


def _model(path) -> tflite.Model:
    return tflite.Model.GetRootAsModel(path.read_bytes(), 0)


def _ops(model: tflite.Model) -> list:
    graph = model.Subgraphs(0)
    codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    return [(codes[graph.Operators(i).OpcodeIndex()].BuiltinCode(), codes[graph.Operators(i).OpcodeIndex()].Version(),
             graph.Operators(i)) for i in range(graph.OperatorsLength())]


def test_int8_model_structure(tmp_path):
    """int8 I/O with the boundary tensors' quantization, per-channel weights (axis 0 for OHWI,
    3 for depthwise 1HWO), the converter's op versions, edgeconv metadata."""
    float_graph = convnet(depthwise=True)
    graph = quantize_graph(float_graph, calibration(float_graph), "int8")
    path = write(graph, tmp_path, {"precisions": "int8", "target": "rpi4"})
    model = _model(path)
    sub = model.Subgraphs(0)
    io = model_io(graph)
    for index, name in ((sub.Inputs(0), io.inputs[0]), (sub.Outputs(0), io.outputs[0])):
        t = sub.Tensors(index)
        assert t.Type() == tflite.TensorType.INT8
        assert t.Quantization().Scale(0) == np.float32(graph.tensors[name].quant.scale[0])
        assert t.Quantization().ZeroPoint(0) == int(graph.tensors[name].quant.zero_point[0])
        assert tuple(t.ShapeAsNumpy()) == tuple(to_channels_last(np.zeros(graph.tensors[name].shape)).shape)
    versions = {code: version for code, version, _ in _ops(model)}
    assert versions[B.CONV_2D] == 3 and versions[B.DEPTHWISE_CONV_2D] == 3 and versions[B.FULLY_CONNECTED] == 4
    assert B.QUANTIZE not in versions and B.DEQUANTIZE not in versions  # int8 model ends
    for code, _, op in _ops(model):
        if code in (B.CONV_2D, B.DEPTHWISE_CONV_2D):
            weight = sub.Tensors(op.Inputs(1))
            q = weight.Quantization()
            assert q.ScaleLength() == weight.ShapeAsNumpy()[0 if code == B.CONV_2D else 3]
            assert q.QuantizedDimension() == (0 if code == B.CONV_2D else 3)
            assert sub.Tensors(op.Inputs(2)).Type() == tflite.TensorType.INT32
    entries = {model.Metadata(i).Name().decode(): model.Metadata(i).Buffer() for i in range(model.MetadataLength())}
    payload = json.loads(model.Buffers(entries["edgeconv"]).DataAsNumpy().tobytes())
    assert payload == {"edgeconv_version": __version__, "precisions": "int8", "target": "rpi4"}


def test_xnor_uses_builtins_only(tmp_path):
    """Sign as CAST + GREATER_EQUAL + SELECT_V2, one-padding as PADV2 with +1 before a VALID conv."""
    float_graph = convnet(depthwise=False)
    graph = quantize_graph(float_graph, calibration(float_graph), "w1a1")
    model = _model(write(graph, tmp_path))
    sub = model.Subgraphs(0)
    codes = [code for code, _, _ in _ops(model)]
    assert B.GREATER_EQUAL in codes and B.SELECT_V2 in codes and B.PADV2 in codes
    assert all(model.OperatorCodes(i).CustomCode() is None for i in range(model.OperatorCodesLength()))
    pads = [op for code, _, op in _ops(model) if code == B.PADV2]
    for op in pads:
        value = sub.Tensors(op.Inputs(2))
        assert model.Buffers(value.Buffer()).DataAsNumpy().view(np.int8).tolist() == [1]


def test_dorefa_clamp_is_exact_through_the_requantization_range(tmp_path):
    """A conv writing a 2-bit DoReFa tensor (qmax = -128 + 3) clamps exactly: its codes stay on
    the 4 levels in TFLM too."""
    float_graph = convnet(depthwise=False)
    graph = quantize_graph(float_graph, calibration(float_graph), "w2a2")
    dorefa_tensors = [t for t in graph.tensors.values() if t.quant is not None and t.quant.qmax == -125]
    assert dorefa_tensors
    assert_tflm_exact(graph, tmp_path)


def grouped_net(rank: int = 2, seed: int = 4) -> Graph:
    """Grouped convolutions that are not depthwise: 2 groups with a fused ReLU, 4 groups strided
    with PyTorch pads (an explicit PAD before the SPLIT) and a clamp TFLite cannot fuse."""
    g = GraphBuilder((1, 8) + (9,) * rank, seed)
    g.conv(8, groups=2)
    g.conv(12, stride=2, groups=4, pads=(1,) * (2 * rank), clamp=(-0.5, 1.5))
    g.conv(6, k=1, groups=2, clamp=(None, None))
    return g.finish()


@pytest.mark.parametrize("precision", ("fp32", "int8", "w2a2"))
@pytest.mark.parametrize("rank", (2, 1), ids=("conv2d", "conv1d"))
def test_grouped_conv_tflm_equals_reference(tmp_path, precision, rank):
    """One CONV_2D per group between a SPLIT and a CONCATENATION: TFLM's output is the
    reference's, byte for byte (float: within the float tolerance)."""
    graph = grouped_net(rank)
    if precision != "fp32":
        graph = quantize_graph(graph, calibration(graph), precision)
    assert_tflm_exact(graph, tmp_path)
    codes = [code for code, _, _ in _ops(_model(write(graph, tmp_path)))]
    assert codes.count(B.SPLIT) == 3 and codes.count(B.CONV_2D) == 2 + 4 + 2
    assert B.DEPTHWISE_CONV_2D not in codes


def test_grouped_conv_litert_runs_it(tmp_path):
    """LiteRT runs the split form with its builtin kernels and with XNNPACK. Both requantize with
    one rounding where TFLite Micro rounds twice (README, "How results are checked"): a value lands
    at most a level away per requantization, so at most 1 LSB after one layer."""
    g = GraphBuilder((1, 8, 9, 9))
    g.conv(12, stride=2, groups=4, pads=(1, 1, 1, 1), clamp=(None, None))
    graph = quantize_graph(g.finish(), calibration(g.graph), "int8")
    feed, reference = tflite_feeds_and_reference(graph, calibration(graph, 6, seed=11))
    path = write(graph, tmp_path)
    for resolver in ("builtin", "xnnpack"):
        got = to_channels_first(np.asarray(litert.run(path, feed, op_resolver=resolver)))
        assert np.abs(got.astype(np.int32) - reference.astype(np.int32)).max() <= 1


def test_same_graph_same_bytes():
    graph = quantize_graph(activation_net(), calibration(activation_net()), "int8")
    assert build_tflite(graph, {"seed": 0}) == build_tflite(graph.copy(), {"seed": 0})


@pytest.mark.parametrize("name", ["ic_resnet8_int8", "kws_dscnn_int8", "ad_fc_autoencoder_int8"])
def test_imported_mlperf_model_rewritten_exactly(tmp_path, name):
    """An imported full-integer .tflite written back: TFLM gives the reference's (and the original
    file's) bytes, with int8 model ends as in the original."""
    original = MLPERF / f"{name}.tflite"
    graph = load_tflite(original)
    x = np.random.default_rng(3).integers(-128, 128, size=(3, *graph.tensors[graph.inputs[0]].shape[1:])).astype(np.int8)
    reference = executor.run_single(graph, x)
    path = write(graph, tmp_path)
    got = to_channels_first(np.asarray(tflm.run(path, to_channels_last(x))))
    np.testing.assert_array_equal(got, reference)
    np.testing.assert_array_equal(to_channels_first(np.asarray(tflm.run(original, to_channels_last(x)))), reference)


@pytest.mark.parametrize("steps", [0, 3])
@pytest.mark.parametrize("scale", [4.0, 1.0, 1e-3])
def test_sign_is_exact_for_any_input_scale(tmp_path, scale, steps):
    """x >= zp (+ the threshold's steps) on the raw codes, also where int8 comparisons would rescale
    (scale >= 1 aborts TFLite Micro's GREATER_EQUAL, a tiny scale merges neighbouring codes)."""
    graph = Graph(name="sign")
    graph.add_tensor(Tensor("x", (1, 3, 4, 4), "int8", quant=QuantParams([scale], [5])))
    graph.add_tensor(Tensor("y", (1, 3, 4, 4), "int8", quant=QuantParams([1.0], [0], qmin=-1, qmax=1)))
    graph.add_node(Node("binarize", ops.Sign(threshold=sign_threshold(steps, scale)), ["x"], "y", precision="w1a1"))
    graph.inputs, graph.outputs = ["x"], ["y"]
    x = np.arange(-48, 48, dtype=np.int8).reshape(2, 3, 4, 4)
    reference = executor.run_single(graph, x)
    got = to_channels_first(np.asarray(tflm.run(write(graph, tmp_path), to_channels_last(x))))
    np.testing.assert_array_equal(got, reference)
    assert set(np.unique(got)) == {-1, 1}
