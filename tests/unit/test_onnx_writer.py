"""The ONNX writer: float and QDQ models that pass the full checker and agree with the reference
executor when ONNX Runtime runs them (float: the float tolerance; quantized: top-1)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from edgeconv import __version__
from edgeconv.backends.onnx import OPSET, build_onnx, write_onnx
from edgeconv.errors import UserError
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.quant.quantizers import sign_threshold
from edgeconv.quant.single_rounding import with_single_rounding
from edgeconv.reference import executor
from edgeconv.runtimes import onnxruntime as ort_adapter
from tests.kernels.qgraphs import GraphBuilder as QGraphBuilder
from tests.unit.test_tflite_writer import (QUANTIZED, GraphBuilder, activation_net, calibration, conv1d_net,
                                           convnet, residual_net)

FLOAT_RTOL = 1e-4
MODELS = [convnet, residual_net, conv1d_net, activation_net]


def _checked(graph, tmp_path, metadata=None):
    path = write_onnx(graph, tmp_path / "model.onnx", metadata or {})
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    return path, model


def _run(path, x):
    return np.asarray(ort_adapter.run(path, x))


@pytest.mark.parametrize("build", MODELS)
def test_float_model_matches_reference(tmp_path, build):
    graph = build()
    path, model = _checked(graph, tmp_path)
    x = calibration(graph, 16, seed=3)
    reference = executor.run_single(graph, x)
    got = _run(path, x)
    assert np.abs(got - reference).max() <= FLOAT_RTOL * max(1.0, float(np.abs(reference).max()))
    assert not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)


def plain_convnet():
    return convnet(depthwise=False)


@pytest.mark.parametrize("precision", QUANTIZED)
@pytest.mark.parametrize("build", [plain_convnet, residual_net, conv1d_net])
def test_qdq_model_agrees_on_top1(tmp_path, build, precision):
    """ONNX Runtime requantizes with one rounding, TFLite (the reference) with two
    (``MultiplyByQuantizedMultiplier``): an accumulator of 1 with multiplier 0.38 gives 0 in ORT and
    1 in TFLite. On 2-bit activations one level is a third of the range, so a graph as quantized
    may lose top-1 agreement on random untrained nets; stored for single rounding
    (``with_single_rounding``, what ``compress`` ships) the two round alike and agree."""
    float_graph = build()
    quantized = quantize_graph(float_graph, calibration(float_graph), precision)
    for graph, least in ((quantized, 0.95), (with_single_rounding(quantized), 0.98)):
        path, model = _checked(graph, tmp_path)
        x = calibration(graph, 64, seed=3)
        reference = executor.run_single(graph, x)
        got = _run(path, x)
        assert got.dtype == np.float32 and got.shape == reference.shape
        agreement = np.mean(got.argmax(axis=1) == reference.argmax(axis=1))
        assert agreement >= least, f"top-1 agreement {agreement}"


def test_int8_activations_model_agrees_on_top1(tmp_path):
    float_graph = activation_net()
    graph = quantize_graph(float_graph, calibration(float_graph), "int8")
    path, _ = _checked(graph, tmp_path)
    x = calibration(graph, 64, seed=3)
    reference = executor.run_single(graph, x)
    assert np.mean(_run(path, x).argmax(axis=1) == reference.argmax(axis=1)) >= 0.95


@pytest.mark.parametrize("steps", [0, 1, 6])
def test_sign_with_threshold_equals_reference(tmp_path, steps):
    """Sign on the dequantized input: exact at the threshold 0 (q >= zp) and halfway between grid
    values (the thresholds quantization picks)."""
    b = QGraphBuilder((1, 3, 5, 5), seed=4)
    b.quantize()
    scale = float(b.g.tensors[b.current].quant.scale[0])
    b.sign(threshold=sign_threshold(steps, scale))
    b.dequantize()
    graph = b.finish()
    path, _ = _checked(graph, tmp_path)
    x = np.random.default_rng(5).uniform(-1, 1, size=(16, 3, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(_run(path, x), executor.run_single(graph, x))


def _initializers(model) -> dict:
    return {i.name: i for i in model.graph.initializer}


def test_qdq_structure(tmp_path):
    """Opset 21, float ends, per-channel weights stored as uint8 codes (axis 0) and int32 biases
    behind DequantizeLinear, activations quantized to uint8, metadata_props with the version and
    settings."""
    float_graph = convnet()
    graph = quantize_graph(float_graph, calibration(float_graph), "int8")
    _, model = _checked(graph, tmp_path, {"precisions": "int8"})
    assert model.opset_import[0].version == OPSET >= 21
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    inits = _initializers(model)
    dequantized_weights = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    kinds = {inits[n.input[0]].data_type for n in dequantized_weights}
    assert kinds == {TensorProto.UINT8, TensorProto.INT32}
    activation_zero_points = {inits[n.input[2]].data_type for n in model.graph.node if n.op_type == "QuantizeLinear"}
    assert activation_zero_points == {TensorProto.UINT8}
    for n in dequantized_weights:
        scale = inits[n.input[1]]
        if len(scale.dims) == 1 and scale.dims[0] > 1:
            assert [a.i for a in n.attribute if a.name == "axis"] == [0]
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["edgeconv"]) == {"edgeconv_version": __version__, "precisions": "int8"}


@pytest.mark.parametrize("precision,int4", [("w2a2", True), ("w1a1", True), ("w4a4", False), ("int8", False)])
def test_int4_weights_only_where_values_fit(tmp_path, precision, int4):
    """DoReFa K <= 3 and binary weights fit int4 exactly; K = 4 odd codes reach +-15 and stay int8.
    Weight steps (single-rounding storage) are divided out again, so the same layers fit."""
    float_graph = convnet(depthwise=False)
    quantized = quantize_graph(float_graph, calibration(float_graph), precision)
    for graph in (quantized, with_single_rounding(quantized)):
        _, model = _checked(graph, tmp_path)
        kinds = {i.data_type for i in model.graph.initializer}
        assert (TensorProto.INT4 in kinds) == int4


def test_unsupported_op_is_refused_by_name():
    g = GraphBuilder((1, 3, 4, 4))
    g.conv(4)
    graph = g.finish()
    graph.nodes[0].op = type("Custom", (), {"NAME": "Custom"})()
    with pytest.raises(UserError, match="Custom"):
        build_onnx(graph)


def test_same_graph_same_bytes(tmp_path):
    graph = quantize_graph(residual_net(), calibration(residual_net()), "w2a2")
    first = write_onnx(graph, tmp_path / "a.onnx").read_bytes()
    assert write_onnx(graph.copy(), tmp_path / "b.onnx").read_bytes() == first
