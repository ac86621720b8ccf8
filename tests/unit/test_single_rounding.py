"""Single-rounding storage of quantized graphs (``quant/single_rounding.py``): weight steps on
low-bit layers, zero-input biases, unit depthwise convolutions for int8 -> int8 requantizations and
int8 means as average pools make TFLite's double rounding (the reference executor's integer
semantics) equal to rounding once, the way XNNPACK and ONNX Runtime compute, without changing the
layer's real weights."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
from edgeconv.quant.activation_range import activation_range
from edgeconv.backends.onnx import write_onnx
from edgeconv.backends.tflite import to_channels_first, to_channels_last
from edgeconv.quant.quantizers import binary_params, sign_threshold, sign_threshold_code
from edgeconv.quant.single_rounding import (MAX_SCALE_NUDGE, double_rounding_misses, f32, sign_boundary_scale,
                                           with_single_rounding, zero_input_bias)
from edgeconv.reference import executor
from edgeconv.runtimes import litert
from edgeconv.runtimes import onnxruntime as ort_adapter
from edgeconv.runtimes import tflm
from tests.kernels.qgraphs import GraphBuilder as QGraphBuilder
from tests.unit.test_tflite_writer import tflite_feeds_and_reference, write

GRID_2BIT = QuantParams(f32(1 / 3), -128, qmin=-128, qmax=-125)


def conv_graph(weights: np.ndarray, w_scales, bias: np.ndarray, x_quant: QuantParams, out_quant: QuantParams,
               precision: str, groups: int = 1, pads=(1, 1, 1, 1), clamp=(0.0, None)) -> Graph:
    """int8 input -> one quantized Conv -> int8 output (per-channel weight scales)."""
    c_out = weights.shape[0]
    c_in = weights.shape[1] * groups
    g = Graph(name="one_conv")
    g.add_tensor(Tensor("x", (1, c_in, 7, 6), "int8", quant=x_quant))
    w_scales = f32(np.broadcast_to(np.asarray(w_scales, np.float64), (c_out,)))
    g.add_tensor(Tensor("w", weights.shape, "int8", data=weights,
                        quant=QuantParams(w_scales, np.zeros(c_out), axis=0, qmin=-127, qmax=127)))
    g.add_tensor(Tensor("b", (c_out,), "int32", data=bias,
                        quant=QuantParams(float(x_quant.scale[0]) * w_scales, np.zeros(c_out), axis=0,
                                          qmin=-(2**31), qmax=2**31 - 1)))
    op = ops.Conv(pads=pads, groups=groups, clamp=clamp)
    g.add_tensor(Tensor("y", op.infer([(1, c_in, 7, 6), weights.shape]), "int8", quant=out_quant))
    g.add_node(Node("conv", op, ["x", "w", "b"], "y", precision=precision))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def once_rounded(g: Graph, x: np.ndarray) -> np.ndarray:
    """The conv of ``g`` requantized by rounding ``acc * M`` once (float64, half up), clamped.

    ``acc = sum w * (x - zp_in) + bias`` with zero-padded taps (float64 holds it exactly)."""
    node = g.nodes[0]
    xq, w, b, yq = (g.tensors[n] for n in ("x", "w", "b", "y"))
    centered = torch.from_numpy(x.astype(np.float64) - int(xq.quant.zero_point[0]))
    top, left, bottom, right = node.op.pads
    acc = F.conv2d(F.pad(centered, (left, right, top, bottom)), torch.from_numpy(w.data.astype(np.float64)),
                   torch.from_numpy(b.data.astype(np.float64)), groups=node.op.groups).numpy()
    multiplier = float(xq.quant.scale[0]) * w.quant.scale / float(yq.quant.scale[0])
    q = np.floor(acc * multiplier.reshape(1, -1, 1, 1) + 0.5) + int(yq.quant.zero_point[0])
    lo, hi = activation_range(node.op.clamp, yq.quant)
    return np.clip(q, lo, hi).astype(np.int8)


def grid_input(rng, c_in: int, quant: QuantParams, batch: int = 64) -> np.ndarray:
    return rng.integers(quant.qmin, quant.qmax + 1, size=(batch, c_in, 7, 6)).astype(np.int8)


def test_double_rounding_misses_counts_the_two_roundings_apart():
    # M = 0.0992: TFLite first rounds acc * M to eighths; 126 * M = 12.495 becomes 12.5, then 13.
    assert double_rounding_misses(np.array([126]), 0.09916660556531305) == 1
    # M >= 1/2: one rounding (the doubling high multiply), no misses.
    assert double_rounding_misses(np.arange(-5000, 5000), 0.7312) == 0


@pytest.mark.parametrize("bits, groups", [(2, 1), (4, 1), (2, 8), (1, 1)])
def test_low_bit_conv_rounds_once_after_weight_steps(bits, groups):
    """A DoReFa (odd weights) or XNOR-like (+-1) conv on a 2-bit grid: before, TFLite's double
    rounding moves values; after, the reference equals the once-rounded product everywhere."""
    rng = np.random.default_rng(bits * 10 + groups)
    levels = (1 << bits) - 1
    c_in, c_out = 8, 8
    weights = (2 * rng.integers(0, levels + 1, size=(c_out, c_in // groups, 3, 3)) - levels).astype(np.int8)
    # Scales putting the multiplier s_in * s_w / s_out between 1/16 and 1/2, where double rounding bites.
    w_scales = rng.uniform(0.06, 0.45, size=c_out) / levels * 3
    bias = rng.integers(-8, 8, size=c_out).astype(np.int32)
    g = conv_graph(weights, w_scales, bias, GRID_2BIT, GRID_2BIT, f"w{bits}a2", groups=groups)
    x = grid_input(rng, c_in, GRID_2BIT)
    before = executor.run(g, {"x": x})["y"]
    assert np.any(before != once_rounded(g, x)), "the case must show double rounding"
    stepped = with_single_rounding(g)
    w = stepped.tensors["w"]
    steps = np.abs(w.data.reshape(c_out, -1)).max(axis=1) // np.abs(weights.reshape(c_out, -1)).max(axis=1)
    assert np.all(steps >= 1) and np.all(np.abs(w.data).max() <= 127)
    np.testing.assert_array_equal(w.data, weights * steps.reshape(-1, 1, 1, 1))
    # Same real weights and bias (up to the float32 rounding of s_w / n).
    np.testing.assert_allclose(w.data * w.quant.scale.reshape(-1, 1, 1, 1),
                               weights * g.tensors["w"].quant.scale.reshape(-1, 1, 1, 1), rtol=1e-6)
    np.testing.assert_array_equal(stepped.tensors["b"].data, bias * steps)
    np.testing.assert_array_equal(executor.run(stepped, {"x": x})["y"], once_rounded(g, x))


def test_int8_layers_keep_their_weights():
    rng = np.random.default_rng(3)
    weights = rng.integers(-127, 128, size=(6, 4, 3, 3)).astype(np.int8)
    weights[:, 0, 0, 0] = 127
    x_quant = QuantParams(f32(0.02), 5)
    g = conv_graph(weights, 0.01, np.zeros(6, np.int32), x_quant, QuantParams(f32(0.05), -3), "int8")
    out = with_single_rounding(g)
    np.testing.assert_array_equal(out.tensors["w"].data, weights)
    np.testing.assert_array_equal(out.tensors["w"].quant.scale, g.tensors["w"].quant.scale)


def test_int8_requantization_becomes_a_unit_depthwise_conv_that_rounds_once():
    """An int8 -> int8 Quantize of a feature map onto a 2-bit grid: every one of the 256 input codes
    lands where ``round((x - zp_in) * s_in / s_out)`` puts it."""
    g = Graph(name="requant")
    x_quant = QuantParams(f32(0.0123), -17)
    g.add_tensor(Tensor("x", (1, 3, 16, 16), "int8", quant=x_quant))
    g.add_tensor(Tensor("y", (1, 3, 16, 16), "int8", quant=GRID_2BIT))
    g.add_node(Node("requantize_x", ops.Quantize(), ["x"], "y", precision="int8"))
    g.inputs, g.outputs = ["x"], ["y"]
    out = with_single_rounding(g)
    node = out.nodes[0]
    assert node.op_name == "Conv" and node.op.groups == 3
    weight = out.tensors[node.inputs[1]]
    assert weight.shape == (3, 1, 1, 1) and len(set(weight.data.ravel())) == 1
    codes = np.arange(-128, 128, dtype=np.int64)
    x = np.broadcast_to(codes.reshape(1, 1, 16, 16), (1, 3, 16, 16)).astype(np.int8)
    expected = np.floor((codes + 17) * (float(x_quant.scale[0]) / float(GRID_2BIT.scale[0])) + 0.5) - 128
    expected = np.clip(expected, -128, -125).reshape(1, 1, 16, 16)
    got = executor.run(out, {"x": x})["y"]
    np.testing.assert_array_equal(got, np.broadcast_to(expected, got.shape))


def test_zero_input_bias_rounds_once_to_the_same_value():
    """A channel whose bias-only accumulator (every input at its zero point) TFLite rounds to the
    next level: the bias moves by the fewest units that make it round once, to the level the
    once-rounding runtimes give, and the real output moves by a tiny fraction of a step."""
    multiplier = 0.0013308120314168338  # the w1a1 MobileNetV2 stem: first rounding to 2^-9
    biases = np.arange(-2000, 2000)
    missing = [int(b) for b in biases if double_rounding_misses(np.array([b]), multiplier)]
    assert missing, "the case must show double rounding"
    for bias in missing:
        moved = zero_input_bias(bias, multiplier)
        assert moved != bias and abs(moved - bias) * multiplier < 0.01
        assert double_rounding_misses(np.array([moved]), multiplier) == 0
        assert np.floor(moved * multiplier + 0.5) == np.floor(bias * multiplier + 0.5)
    assert zero_input_bias(37, multiplier) == 37  # 0.049: far from a half, kept


def test_int8_conv_on_a_flat_background_rounds_once():
    """An int8 conv (full-range weights, no weight step) reading an image at its zero point:
    after ``with_single_rounding`` every output equals the once-rounded accumulator (where each
    double-rounded before), with the same weights."""
    rng = np.random.default_rng(5)
    weights = rng.integers(-127, 128, size=(16, 1, 3, 3)).astype(np.int8)
    weights[:, 0, 0, 0] = 127
    x_quant, out_quant = QuantParams(f32(1 / 255), -128), QuantParams(f32(0.0555), -2)
    w_scales = f32(rng.uniform(0.004, 0.006, size=16))
    multipliers = float(x_quant.scale[0]) * w_scales / float(out_quant.scale[0])
    # Biases whose zero-input accumulator double-rounds, one per channel.
    bias = np.array([next(b for b in range(-20000, 20000) if double_rounding_misses(np.array([b]), m))
                     for m in multipliers], dtype=np.int32)
    g = conv_graph(weights, w_scales, bias, x_quant, out_quant, "int8", clamp=(None, None))
    background = np.full((4, 1, 7, 6), -128, dtype=np.int8)
    assert np.all(executor.run(g, {"x": background})["y"] != once_rounded(g, background))
    out = with_single_rounding(g)
    np.testing.assert_array_equal(out.tensors["w"].data, weights)
    moved = out.tensors["b"].data.astype(np.int64) - bias
    assert np.all(moved != 0) and np.all(np.abs(moved) * multipliers < 0.01)
    np.testing.assert_array_equal(executor.run(out, {"x": background})["y"], once_rounded(g, background))


def mean_graph(keepdims: bool, hw=(7, 7)):
    b = QGraphBuilder((1, 5) + hw, seed=4)
    b.quantize(scale=f32(0.0442), zp=-128)
    b.same_quant(ops.GlobalAvgPool(keepdims=keepdims), base="mean")
    b.dequantize()
    return b.finish()


@pytest.mark.parametrize("keepdims", [False, True])
def test_int8_mean_becomes_an_average_pool_that_rounds_once(tmp_path, keepdims):
    """TFLite's MEAN rounds sum/49 twice (2 sums in 49 land one level off); the AVERAGE_POOL_2D
    that replaces it rounds once, as ONNX Runtime and TFLite Micro compute it, byte for byte."""
    g = mean_graph(keepdims)
    codes = np.random.default_rng(2).integers(-128, 128, size=(256, 5, 7, 7))
    x = ((codes + 128) * 0.0442).astype(np.float32)
    before = executor.run(g, x, keep=True)
    out = with_single_rounding(g)
    assert [n.op_name for n in out.nodes] == ["Quantize", "AvgPool"] + ([] if keepdims else ["Reshape"]) + ["Dequantize"]
    after = executor.run(out, x, keep=True)
    q = after["quantize1"].astype(np.int64) + 128
    sums = q.sum(axis=(2, 3), keepdims=keepdims)
    exact = (2 * sums + 49) // 98 - 128  # round half up of sum / 49 (no halves: 49 is odd)
    mean_name = out.nodes[-1].inputs[0]
    np.testing.assert_array_equal(after[mean_name], exact)
    assert np.any(before["mean2"] != exact), "the case must show MEAN's double rounding"
    reference = after[out.outputs[0]]
    path = write_onnx(out, tmp_path / "mean.onnx", {})
    np.testing.assert_array_equal(np.asarray(ort_adapter.run(path, x)), reference)
    feed, int8_reference = tflite_feeds_and_reference(out, x)
    np.testing.assert_array_equal(to_channels_first(np.asarray(tflm.run(write(out, tmp_path), feed))), int8_reference)


def test_int8_mean_with_its_own_quantization_stays_a_mean():
    g = mean_graph(False)
    node = g.nodes[1]
    g.tensors[node.output] = dataclasses.replace(g.tensors[node.output], quant=QuantParams(f32(0.02), -100))
    assert [n.op_name for n in with_single_rounding(g).nodes] == ["Quantize", "GlobalAvgPool", "Dequantize"]


# The w1a1 MobileNetV2's squeeze-excitation gate (ReLU output times hard sigmoid) and the Sign
# after it, whose threshold sits halfway below the code 16 above the zero point: the product 3268
# (43 * 76) requantizes to 15.4977, which TFLite's first rounding (to 2^-7) lifts to 15.5 and
# then to 16, across the threshold, where XNNPACK rounds once to 15.
SE_GATE = dict(s_a=0.0235294122248888, s_b=0.0031799066346138716, s_out=0.015778029337525368, steps=16)


def gated_sign_graph(s_a: float, s_b: float, s_out: float, steps: int) -> Graph:
    """int8 a, int8 b (zero points -128, shape 1 x 1 x 256 x 256) -> Mul -> Sign."""
    shape = (1, 1, 256, 256)
    g = Graph(name="gated_sign")
    g.add_tensor(Tensor("a", shape, "int8", quant=QuantParams(f32(s_a), -128)))
    g.add_tensor(Tensor("b", shape, "int8", quant=QuantParams(f32(s_b), -128)))
    g.add_tensor(Tensor("y", shape, "int8", quant=QuantParams(f32(s_out), -128)))
    g.add_tensor(Tensor("z", shape, "int8", quant=binary_params()))
    g.add_node(Node("gate", ops.Mul(), ["a", "b"], "y"))
    sign = ops.Sign(threshold=sign_threshold(steps, float(f32(s_out))))
    g.add_node(Node("binarize", sign, ["y"], "z", precision="w1a1"))
    g.inputs, g.outputs = ["a", "b"], ["z"]
    return g


def every_code_pair() -> dict:
    """Every (a, b) pair of int8 codes once: a down the rows, b along the columns."""
    codes = np.arange(-128, 128, dtype=np.int8)
    return {"a": np.broadcast_to(codes.reshape(1, 1, 256, 1), (1, 1, 256, 256)).copy(),
            "b": np.broadcast_to(codes.reshape(1, 1, 1, 256), (1, 1, 256, 256)).copy()}


def once_rounded_sign(g: Graph, feeds: dict) -> np.ndarray:
    """The Sign of ``g``'s product rounded once (float64, half up): what XNNPACK's MUL feeds it."""
    qa, qb, qy = (g.tensors[n].quant for n in ("a", "b", "y"))
    product = (feeds["a"].astype(np.int64) + 128) * (feeds["b"].astype(np.int64) + 128)
    y = np.floor(product * (float(qa.scale[0]) * float(qb.scale[0]) / float(qy.scale[0])) + 0.5)
    first = sign_threshold_code(g.nodes[1].op.threshold, float(qy.scale[0]))
    return np.where(y >= first, 1, -1).astype(np.int8)


def litert_outputs(g: Graph, feeds: dict, tmp_path) -> np.ndarray:
    path = write(g, tmp_path)
    return to_channels_first(np.asarray(litert.run(path, [to_channels_last(feeds["a"]), to_channels_last(feeds["b"])])))


def test_a_gate_before_a_sign_rounds_once_at_the_threshold(tmp_path):
    """The Mul before a Sign gets the nearest output scale at which every product next to the
    threshold rounds once: afterwards TFLite's double rounding, the once-rounded product and LiteRT
    with XNNPACK give the same signs for all 65,536 code pairs (before, they differ), the scale
    moved by far less than a step anywhere in range, and the threshold stays halfway below the
    same code."""
    g = gated_sign_graph(**SE_GATE)
    feeds = every_code_pair()
    before = executor.run(g, feeds)["z"]
    assert np.any(before != once_rounded_sign(g, feeds)), "the case must show the double rounding"
    assert np.any(litert_outputs(g, feeds, tmp_path) != before)

    out = with_single_rounding(g)
    s_out, s_new = float(g.tensors["y"].quant.scale[0]), float(out.tensors["y"].quant.scale[0])
    assert s_new != s_out and abs(s_new / s_out - 1) <= MAX_SCALE_NUDGE
    threshold = out.nodes[1].op.threshold
    assert sign_threshold_code(threshold, s_new) == SE_GATE["steps"]
    assert threshold == sign_threshold(SE_GATE["steps"], s_new)
    after = executor.run(out, feeds)["z"]
    np.testing.assert_array_equal(after, once_rounded_sign(out, feeds))
    np.testing.assert_array_equal(litert_outputs(out, feeds, tmp_path), after)


def test_a_gate_that_already_rounds_once_at_the_threshold_keeps_its_scale():
    g = gated_sign_graph(**dict(SE_GATE, steps=15))
    out = with_single_rounding(g)
    assert out.tensors["y"].quant == g.tensors["y"].quant and out.nodes[1].op == g.nodes[1].op


def test_sign_boundary_scale_gives_up_where_no_scale_in_reach_rounds_once():
    """Multiplier 1/4 and a threshold at 4.5: 18 * 1/4 is the half itself; every smaller multiplier
    in reach has TFLite lift 18 onto 4.5 (first rounding to 2^-2), every larger one 17 (to 2^-1)."""
    products = np.arange(-300, 300, dtype=np.int64)
    assert sign_boundary_scale(products, 0.25, 1.0, 1.0, [5]) is None
