"""ConvTranspose (PyTorch's ConvTranspose2d) on every backend, in an encoder-decoder net at 32x32
with the three ways TRANSPOSE_CONV is written (VALID, SAME, and VALID then STRIDED_SLICE for a
start padding TFLite cannot express) and groups 1, 2 and depthwise: int8 equals the reference
executor byte for byte on TFLite Micro and the generated C, float equals it bit for bit on TFLite
Micro and in the C (TFLite's summation order) and within the float tolerance on LiteRT and ONNX
Runtime; the selector offers it int8 and fp32 kernels only."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.backends.onnx import write_onnx
from edgeconv.backends.tflite import to_channels_first
from edgeconv.errors import UserError
from edgeconv.ir import ops
from edgeconv.kernels.geometry import geometry
from edgeconv.passes.pipeline import prepare
from edgeconv.profile.model_layers import model_graphs
from edgeconv.quant.precision import parse_precision
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.reference import executor
from edgeconv.runtimes import litert, tflm
from edgeconv.runtimes import onnxruntime as ort_adapter
from edgeconv.select import build_problem
from edgeconv.select.candidates import variants_for
from edgeconv.select.sensitivity import SensitivityTable
from edgeconv.targets import load_target
from tests.unit.test_codegen import check_exact
from tests.unit.test_threads import split_kernels, threaded
from tests.unit.test_tflite_writer import (FLOAT_RTOL, GraphBuilder, assert_tflm_exact, calibration,
                                           tflite_feeds_and_reference, write)


def up(g: GraphBuilder, c_out: int, k: int, stride: int, pads: tuple, output_padding=(0, 0), bias=True,
       src: str | None = None, groups: int = 1) -> str:
    src = src or g.current
    cin_g = g.graph.tensors[src].shape[1] // groups
    w = g._const("w", g.rng.normal(size=(c_out, cin_g, k, k)) * (2.0 / np.sqrt(k * k * cin_g)))
    b = g._const("b", g.rng.normal(size=c_out) * 0.1) if bias else None
    op = ops.ConvTranspose(stride=(stride, stride), pads=pads, output_padding=output_padding, groups=groups)
    return g.node(op, [src, w, b])


def decoder_net(seed: int = 3):
    """Encoder 32 -> 16 -> 8, decoder back to 32: a SAME-like transposed conv (k 4, s 2, p 1, two
    groups), ReLU, a skip concatenation, one needing a crop (k 3, s 2, p 1, output padding 1, no
    bias), a depthwise VALID one (k 2, s 2) at the skip's scale and a 1x1 head: an FPN-style
    upsampling path."""
    g = GraphBuilder((1, 3, 32, 32), seed)
    g.conv(8, stride=2)
    skip = g.current
    g.conv(16, stride=2)
    up(g, 8, 4, 2, (1, 1, 1, 1), groups=2)
    g.node(ops.Clip(0.0, None))
    g.node(ops.Concat(axis=1), [g.current, skip])
    crop = up(g, 8, 3, 2, (1, 1, 1, 1), (1, 1), bias=False)
    valid = up(g, 8, 2, 2, (0, 0, 0, 0), src=skip, groups=8)
    g.node(ops.Add(clamp=(0.0, None)), [crop, valid])
    g.conv(4, k=1, pads=(0, 0, 0, 0), clamp=(None, None))
    return g.finish()


def _inputs(graph, n: int = 4) -> np.ndarray:
    return calibration(graph, n, seed=13)


def test_decoder_shapes_follow_pytorch():
    graph = decoder_net()
    shapes = [graph.tensors[n.output].shape for n in graph.nodes if n.op_name == "ConvTranspose"]
    assert shapes == [(1, 8, 16, 16), (1, 8, 32, 32), (1, 8, 32, 32)]


def test_quantized_decoder_is_bit_exact_on_tflm_and_c(tmp_path):
    float_graph = decoder_net()
    graph = quantize_graph(float_graph, calibration(float_graph), "int8")
    assert assert_tflm_exact(graph, tmp_path).dtype == np.int8
    project = check_exact(graph, tmp_path, _inputs(graph), sanitize=False)
    kernels = {layer.op: layer.kernel for layer in project.layers}
    assert kernels["ConvTranspose"] == "ec_s8_conv_transpose2d"


def test_quantized_decoder_on_litert_and_onnxruntime(tmp_path):
    """Not oracles (DESIGN §2): both run the artifacts and stay within a few LSB of the reference."""
    float_graph = decoder_net()
    graph = quantize_graph(float_graph, calibration(float_graph), "int8")
    x = _inputs(graph)
    feed, codes = tflite_feeds_and_reference(graph, x)
    path = write(graph, tmp_path)
    for mode in ("builtin", "xnnpack"):
        got = to_channels_first(np.asarray(litert.run(path, feed, mode))).astype(np.int32)
        assert np.abs(got - codes).max() <= 2, mode
    reference = executor.run_single(graph, x)
    step = float(graph.tensors[graph.nodes[-1].inputs[0]].quant.scale[0])
    got = np.asarray(ort_adapter.run(write_onnx(graph, tmp_path / "model.onnx", {}), x))
    assert np.abs(got - reference).max() <= 2 * step + 1e-6


@pytest.mark.parametrize("runtime", ["c", "tflite-micro", "litert", "onnxruntime"])
def test_float_decoder(tmp_path, runtime):
    graph = decoder_net()
    x = _inputs(graph)
    if runtime == "c":  # TFLite's summation order: the same bits
        check_exact(graph, tmp_path, x, sanitize=False)
        return
    reference = executor.run_single(graph, x)
    if runtime == "tflite-micro":  # the same order again: the same bits
        feed, _ = tflite_feeds_and_reference(graph, x)
        got = to_channels_first(np.asarray(tflm.run(write(graph, tmp_path), feed)))
        np.testing.assert_array_equal(got.view(np.uint32), reference.view(np.uint32))
        return
    tolerance = FLOAT_RTOL * max(1.0, float(np.abs(reference).max()))
    if runtime == "litert":
        feed, _ = tflite_feeds_and_reference(graph, x)
        got = to_channels_first(np.asarray(litert.run(write(graph, tmp_path), feed, "builtin")))
    else:
        got = np.asarray(ort_adapter.run(write_onnx(graph, tmp_path / "model.onnx", {}), x))
    assert np.abs(got - reference).max() <= tolerance


def test_selection_offers_int8_and_fp32_only():
    graph = decoder_net()
    node = next(n for n in graph.nodes if n.op_name == "ConvTranspose")
    geo = geometry(graph, node)
    offered = {p: [k.name for k in variants_for(geo, parse_precision(p))] for p in ("fp32", "int8", "w4a4", "w1a1")}
    assert offered == {"fp32": ["ec_f32_conv_transpose2d"], "int8": ["ec_s8_conv_transpose2d"], "w4a4": [], "w1a1": []}
    with pytest.raises(UserError, match=f"no kernel runs layer {node.name} at any of the precisions w1a1"):
        costs = {n.name: {"w1a1": 0.0} for n in graph.nodes if n.op.WEIGHTED}
        build_problem(load_target("rpi4"), graph, ["w1a1"], SensitivityTable("kl", costs))


def test_profile_rounds_time_transposed_convs_at_int8_below_8_bits():
    graph = prepare(decoder_net())
    label, make_graph = next(iter(model_graphs(load_target("host"), graph, ("w2a2",))))
    trial = make_graph()
    assert "w2a2" in label
    assert {n.precision for n in trial.nodes if n.op_name == "ConvTranspose"} == {"int8"}
    assert any(n.precision == "w2a2" for n in trial.nodes if n.op_name == "Conv")


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_decoder_on_the_thread_pool_equals_one_thread_and_the_reference(tmp_path, precision):
    float_graph = decoder_net()
    graph = quantize_graph(float_graph, calibration(float_graph), "int8") if precision == "int8" else float_graph
    x = _inputs(graph, 2)
    project, outputs = threaded(graph, x, tmp_path)
    assert {"ec_s8_conv_transpose2d" if precision == "int8" else "ec_f32_conv_transpose2d"} <= split_kernels(project)
    np.testing.assert_array_equal(outputs[1], executor.run_single(graph, x))
