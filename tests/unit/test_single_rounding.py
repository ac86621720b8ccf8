"""Single-rounding storage of quantized graphs (``quant/single_rounding.py``): weight steps on
low-bit layers and unit depthwise convolutions for int8 -> int8 requantizations make TFLite's
double rounding (the reference executor's integer semantics) equal to rounding ``acc * M`` once,
the way XNNPACK and ONNX Runtime compute, without changing the layer's real weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
from edgeconv.quant.activation_range import activation_range
from edgeconv.quant.single_rounding import double_rounding_misses, f32, with_single_rounding
from edgeconv.reference import executor
import edgeconv.reference.int_kernels  # noqa: F401  (registers the integer kernels)

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
