"""Integer reference kernels against straightforward loop implementations written here.

Each expected value is computed element by element in plain Python integers (windows, padding,
rounding written out), using only ``edgeconv.quant.fixedpoint`` for the final requantization.
Shapes are small and deliberately awkward: odd channel counts, strides with padding and dilation,
groups, narrow clamps, zero points at the ends of the range, accumulators near the int32 bounds.
(The same kernels are checked against TFLite Micro in test_frontend_tflite.py and on the MLPerf
Tiny models in tests/e2e/test_mlperf_bitexact.py.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgeconv.ir import Graph, GraphError, Node, QuantParams, Tensor, ops
from edgeconv.backends.tflite import write_tflite
from edgeconv.quant.activation_range import activation_range, quantize_scalar, round_half_away
from edgeconv.quant.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, requantize
from edgeconv.quant.integer_params import weighted_requantization
from edgeconv.quant.quantizers import sign_threshold
from edgeconv.reference import run
from edgeconv.reference.int_kernels import INT_KERNELS
from edgeconv.reference.int_fixedpoint_math import count_leading_zeros32
from edgeconv.runtimes import tflm


def q(scale, zp, axis=None, qmin=-128, qmax=127):
    return QuantParams(np.atleast_1d(scale), np.atleast_1d(zp), axis, qmin, qmax)


def graph_of(op, inputs: list, output: Tensor) -> Graph:
    """One-node graph: ``inputs`` are Tensors (constants carry data), the first is the graph input."""
    g = Graph(name="single")
    for t in inputs:
        if t is not None:
            g.add_tensor(t)
    g.add_tensor(output)
    g.inputs = [t.name for t in inputs if t is not None and not t.is_constant]
    g.add_node(Node("n", op, [None if t is None else t.name for t in inputs], output.name, precision="int8"))
    g.outputs = [output.name]
    return g


def run_graph(g: Graph, *arrays):
    feed = dict(zip(g.inputs, arrays))
    return run(g, feed)[g.outputs[0]]


def rand_int8(rng, shape, low=-128, high=127):
    return rng.integers(low, high + 1, size=shape, dtype=np.int8)


def test_every_ir_op_but_batchnorm_has_an_integer_kernel():
    assert set(ops.OPS) - set(INT_KERNELS) == {"BatchNorm"}


# --- convolution ----------------------------------------------------------------------------------

def loop_conv2d(x, w, b, zp_in, stride, pads, dilation, groups):
    """int accumulators of a grouped 2-D conv, padding holding the input zero point."""
    n, cin, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    oh = (h + pads[0] + pads[2] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pads[1] + pads[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    acc = np.zeros((n, cout, oh, ow), dtype=np.int64)
    cout_g = cout // groups
    for b_ in range(n):
        for o in range(cout):
            g = o // cout_g
            for y in range(oh):
                for xx in range(ow):
                    total = 0 if b is None else int(b[o])
                    for c in range(cin_g):
                        for i in range(kh):
                            for j in range(kw):
                                iy = y * stride[0] - pads[0] + i * dilation[0]
                                ix = xx * stride[1] - pads[1] + j * dilation[1]
                                inside = 0 <= iy < h and 0 <= ix < wd
                                value = int(x[b_, g * cin_g + c, iy, ix]) if inside else zp_in
                                total += int(w[o, c, i, j]) * (value - zp_in)
                    acc[b_, o, y, xx] = total
    return acc


CONV_CASES = [
    # (cin, cout, hw, kernel, stride, pads, dilation, groups, clamp)
    (3, 5, (7, 6), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, (None, None)),
    (4, 6, (9, 8), (3, 2), (2, 3), (0, 1, 2, 0), (1, 1), 2, (0.0, None)),
    (5, 5, (8, 9), (3, 3), (1, 2), (2, 2, 2, 2), (2, 2), 5, (0.0, 6.0)),
    (6, 9, (5, 5), (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 3, (-0.5, 0.25)),
    (7, 3, (6, 7), (2, 4), (3, 1), (1, 0, 0, 2), (2, 1), 1, (None, 0.0)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_conv_matches_loop_reference(case):
    cin, cout, hw, kernel, stride, pads, dilation, groups, clamp = case
    rng = np.random.default_rng(cin * 100 + cout)
    zp_in = int(rng.integers(-128, 128))
    x = rand_int8(rng, (2, cin, *hw))
    w = rand_int8(rng, (cout, cin // groups, *kernel), -127, 127)
    w_scales = rng.uniform(0.001, 0.03, cout)
    b = rng.integers(-20000, 20000, cout, dtype=np.int32)
    in_q, out_q = q(0.04, zp_in), q(0.07, int(rng.integers(-100, 100)))
    op = ops.Conv(stride=stride, pads=pads, dilation=dilation, groups=groups, clamp=clamp)
    x_t = Tensor("x", (1, cin, *hw), "int8", quant=in_q)
    w_t = Tensor("w", w.shape, "int8", quant=q(w_scales, np.zeros(cout), axis=0), data=w)
    b_t = Tensor("b", (cout,), "int32", quant=q(0.04 * w_scales, np.zeros(cout), axis=0), data=b)
    out_shape = op.infer([x_t.shape, w.shape, (cout,)])
    g = graph_of(op, [x_t, w_t, b_t], Tensor("y", out_shape, "int8", quant=out_q))

    acc = loop_conv2d(x, w, b, zp_in, stride, pads, dilation, groups)
    mult, shift = zip(*[quantize_multiplier(0.04 * float(np.float32(s)) / float(np.float32(0.07))) for s in w_scales])
    qlo, qhi = activation_range(clamp, out_q)
    expected = requantize(acc, np.array(mult).reshape(1, -1, 1, 1), np.array(shift).reshape(1, -1, 1, 1),
                          int(out_q.zero_point[0]), qlo, qhi)
    np.testing.assert_array_equal(run_graph(g, x), expected)


def test_conv1d_without_bias_matches_loop_reference():
    rng = np.random.default_rng(11)
    x = rand_int8(rng, (3, 4, 13))
    w = rand_int8(rng, (5, 4, 3), -127, 127)
    op = ops.Conv(stride=(2,), pads=(1, 2), dilation=(2,), groups=1)
    x_t = Tensor("x", (1, 4, 13), "int8", quant=q(0.05, 17))
    w_t = Tensor("w", w.shape, "int8", quant=q(np.full(5, 0.01), np.zeros(5), axis=0), data=w)
    out_shape = op.infer([x_t.shape, w.shape])
    g = graph_of(op, [x_t, w_t, None], Tensor("y", out_shape, "int8", quant=q(0.03, -4)))
    acc = loop_conv2d(x[:, :, None, :], w[:, :, None, :], None, 17, (1, 2), (0, 1, 0, 2), (1, 2), 1)[:, :, 0, :]
    m, s = quantize_multiplier(float(np.float32(0.05)) * float(np.float32(0.01)) / float(np.float32(0.03)))
    np.testing.assert_array_equal(run_graph(g, x), requantize(acc, m, s, -4, -128, 127))


def test_binary_clamp_to_narrow_output_range():
    """A DoReFa 2-bit output tensor (qmin -128, qmax -125) is clamped by the requantization."""
    rng = np.random.default_rng(2)
    x = rand_int8(rng, (1, 3, 5, 5))
    w = rand_int8(rng, (4, 3, 3, 3), -3, 3) | 1
    out_q = q(1 / 3, -128, qmin=-128, qmax=-125)
    op = ops.Conv(pads=(1, 1, 1, 1))
    x_t = Tensor("x", x.shape, "int8", quant=q(0.1, 0))
    w_t = Tensor("w", w.shape, "int8", quant=q(np.full(4, 0.2), np.zeros(4), axis=0), data=w)
    g = graph_of(op, [x_t, w_t, None], Tensor("y", (1, 4, 5, 5), "int8", quant=out_q))
    y = run_graph(g, x)
    assert y.min() >= -128 and y.max() <= -125 and len(np.unique(y)) > 1


# --- fully connected ------------------------------------------------------------------------------

def loop_linear(x, w, b, zp_in):
    return np.array([[sum(int(w[o, i]) * (int(x[n, i]) - zp_in) for i in range(x.shape[1])) + int(b[o])
                      for o in range(w.shape[0])] for n in range(x.shape[0])], dtype=np.int64)


@pytest.mark.parametrize("per_channel", [False, True])
def test_linear_matches_loop_reference_with_tflite_multiplier_rule(per_channel):
    rng = np.random.default_rng(4)
    x, w = rand_int8(rng, (3, 17)), rand_int8(rng, (6, 17), -127, 127)
    b = rng.integers(-5000, 5000, 6, dtype=np.int32)
    w_scales = rng.uniform(0.003, 0.02, 6) if per_channel else np.array([0.0123])
    w_q = q(w_scales, np.zeros(w_scales.size), axis=0 if per_channel else None)
    x_t = Tensor("x", (1, 17), "int8", quant=q(0.061, -9))
    g = graph_of(ops.Linear(clamp=(0.0, None)),
                 [x_t, Tensor("w", w.shape, "int8", quant=w_q, data=w), Tensor("b", (6,), "int32", data=b)],
                 Tensor("y", (1, 6), "int8", quant=q(0.17, -30)))
    s_in, s_out = np.float32(0.061), np.float32(0.17)
    # double(s_in) * double(s_w) / double(s_out), per-tensor and per-channel alike
    reals = [float(s_in) * float(np.float32(s)) / float(s_out) for s in np.resize(w_scales, 6)]
    mult, shift = zip(*[quantize_multiplier(r) for r in reals])
    expected = requantize(loop_linear(x, w, b, -9), np.array(mult), np.array(shift), -30, -30, 127)
    np.testing.assert_array_equal(run_graph(g, x), expected)


def test_linear_accumulator_wraps_like_int32_past_its_bound():
    """70000 products of 127 * -255 overflow int32; the kernel wraps as TFLite's C code does."""
    features = 70000
    x = np.full((1, features), -128, dtype=np.int8)
    w = np.full((1, features), 127, dtype=np.int8)
    exact = 127 * (-128 - 127) * features
    assert exact < -(2**31)
    wrapped = int(np.array([exact], dtype=np.int64).astype(np.int32)[0])
    x_t = Tensor("x", (1, features), "int8", quant=q(1.0, 127))
    g = graph_of(ops.Linear(), [x_t, Tensor("w", w.shape, "int8", quant=q(1e-6, 0), data=w), None],
                 Tensor("y", (1, 1), "int8", quant=q(1.0, 0)))
    m, s = quantize_multiplier(1.0 * float(np.float32(1e-6)) / 1.0)
    np.testing.assert_array_equal(run_graph(g, x), requantize(np.array([[wrapped]]), m, s, 0, -128, 127))


def test_per_tensor_linear_multiplier_widens_scales_before_the_product_as_tflm(tmp_path):
    """One-element FULLY_CONNECTED whose accumulator -88337 sits next to a rounding boundary.

    With these float32 scales, rounding ``s_in * s_w`` to float32 before the division gives
    ``q = 1462485078`` and output -22; TFLite Micro multiplies the scales as doubles
    (``q = 1462485049``) and outputs -21. The reference must give TFLite Micro's bytes.
    """
    s_in, s_w, s_out = 0.02479089, 0.019556683, 0.36449847  # float32 scales of a real model layer
    x = np.array([[127]], dtype=np.int8)
    w = np.array([[-127]], dtype=np.int8)
    b = np.array([-88337 - (127 + 128) * -127], dtype=np.int32)
    g = graph_of(ops.Linear(), [Tensor("x", (1, 1), "int8", quant=q(s_in, -128)),
                                Tensor("w", (1, 1), "int8", quant=q(s_w, 0, axis=0), data=w),
                                Tensor("b", (1,), "int32", quant=q(s_in * s_w, 0, axis=0), data=b)],
                 Tensor("y", (1, 1), "int8", quant=q(s_out, 96)))
    rounded_first = float(np.float32(s_in) * np.float32(s_w)) / float(np.float32(s_out))
    assert quantize_multiplier(rounded_first)[0] == 1462485078
    path = write_tflite(g, tmp_path / "fc.tflite")
    expected = tflm.run(path, x)
    np.testing.assert_array_equal(expected, [[-21]])
    np.testing.assert_array_equal(run_graph(g, x), expected)
    assert int(weighted_requantization(g.nodes[0], g).multiplier[0]) == 1462485049


def test_round_half_away_saturates_huge_values_infinities_and_nan():
    """Clamped in float before the integer cast: no overflow, and after ``+ zp`` and the clamp to
    ``[qmin, qmax]``, -inf/-1e30/NaN give qmin and +inf/1e30 give qmax (as ``ec_s8_quantize``)."""
    values = np.array([-np.inf, -1e30, np.nan, np.inf, 1e30, -2.5, 2.5, 2147483646.6], dtype=np.float64)
    rounded = round_half_away(values)
    np.testing.assert_array_equal(rounded, [-(2**31), -(2**31), -(2**31), 2**31 - 1, 2**31 - 1, -3, 3, 2**31 - 1])
    quant = q(0.5, 3, qmin=-100, qmax=90)
    codes = [quantize_scalar(v, quant) for v in (-1e30, float("-inf"), float("nan"), float("inf"), 1e30)]
    np.testing.assert_array_equal(np.clip(codes, quant.qmin, quant.qmax), [-100, -100, -100, 90, 90])
    assert activation_range((float("-inf"), float("inf")), quant) == (-100, 90)


# --- elementwise ----------------------------------------------------------------------------------

def test_add_with_broadcast_matches_formula():
    rng = np.random.default_rng(6)
    a, b = rand_int8(rng, (2, 3, 4, 5)), rand_int8(rng, (1, 3, 1, 1))
    qa, qb, qo = q(0.05, -7), q(0.2, 12), q(0.11, -1)
    g = graph_of(ops.Add(clamp=(0.0, 6.0)), [Tensor("a", (1, 3, 4, 5), "int8", quant=qa),
                                             Tensor("b", (1, 3, 1, 1), "int8", quant=qb, data=b)],
                 Tensor("y", (1, 3, 4, 5), "int8", quant=qo))
    s_a, s_b, s_o = (float(np.float32(v)) for v in (0.05, 0.2, 0.11))
    twice = 2 * max(s_a, s_b)
    ma, sa = quantize_multiplier(s_a / twice)
    mb, sb = quantize_multiplier(s_b / twice)
    mo, so = quantize_multiplier(twice / (2**20 * s_o))
    qlo, qhi = activation_range((0.0, 6.0), qo)
    expected = np.empty(a.shape, dtype=np.int8)
    for idx in np.ndindex(a.shape):
        va = int(multiply_by_quantized_multiplier((int(a[idx]) + 7) * 2**20, ma, sa))
        vb = int(multiply_by_quantized_multiplier((int(b[0, idx[1], 0, 0]) - 12) * 2**20, mb, sb))
        out = int(multiply_by_quantized_multiplier(va + vb, mo, so)) - 1
        expected[idx] = min(max(out, qlo), qhi)
    np.testing.assert_array_equal(run_graph(g, a), expected)


def test_mul_matches_formula():
    rng = np.random.default_rng(8)
    a, b = rand_int8(rng, (2, 4, 3)), rand_int8(rng, (2, 4, 3))
    g = graph_of(ops.Mul(), [Tensor("a", (1, 4, 3), "int8", quant=q(0.05, 100)),
                             Tensor("b", (1, 4, 3), "int8", quant=q(0.03, -128))],
                 Tensor("y", (1, 4, 3), "int8", quant=q(0.02, 3)))
    m, s = quantize_multiplier(float(np.float32(0.05)) * float(np.float32(0.03)) / float(np.float32(0.02)))
    expected = np.empty(a.shape, dtype=np.int8)
    for idx in np.ndindex(a.shape):
        out = int(multiply_by_quantized_multiplier((int(a[idx]) - 100) * (int(b[idx]) + 128), m, s)) + 3
        expected[idx] = min(max(out, -128), 127)
    np.testing.assert_array_equal(run_graph(g, a, b), expected)


# --- pooling --------------------------------------------------------------------------------------

def c_round_div(total: int, count: int) -> int:
    """TFLite: (total ± count/2) / count, truncating toward zero."""
    numerator = total + count // 2 if total > 0 else total - count // 2
    quotient = abs(numerator) // count
    return quotient if numerator >= 0 else -quotient


@pytest.mark.parametrize("kernel,stride,pads,include,ceil", [
    ((3, 3), (2, 2), (1, 1, 1, 1), False, False),
    ((3, 3), (2, 2), (1, 1, 1, 1), True, False),
    ((2, 3), (2, 2), (0, 1, 0, 1), True, True),
    ((3, 2), (3, 2), (0, 0, 0, 0), False, True),
])
def test_avg_pool_matches_loop_reference(kernel, stride, pads, include, ceil):
    rng = np.random.default_rng(9)
    x = rand_int8(rng, (2, 3, 7, 8))
    quant = q(0.05, -20)
    op = ops.AvgPool(kernel=kernel, stride=stride, pads=pads, count_include_pad=include, ceil_mode=ceil)
    out_shape = op.infer([(1, 3, 7, 8)])
    g = graph_of(op, [Tensor("x", (1, 3, 7, 8), "int8", quant=quant)], Tensor("y", out_shape, "int8", quant=quant))
    expected = np.empty((2, 3, *out_shape[2:]), dtype=np.int8)
    for n, c, oy, ox in np.ndindex(expected.shape):
        total = count = 0
        for i in range(kernel[0]):
            for j in range(kernel[1]):
                y, xx = oy * stride[0] - pads[0] + i, ox * stride[1] - pads[1] + j
                if 0 <= y < 7 and 0 <= xx < 8:
                    total, count = total + int(x[n, c, y, xx]), count + 1
                elif include and -pads[0] <= y < 7 + pads[2] and -pads[1] <= xx < 8 + pads[3]:
                    total, count = total - 20, count + 1
        expected[n, c, oy, ox] = c_round_div(total, count)
    np.testing.assert_array_equal(run_graph(g, x), expected)


def test_avg_pool_rounds_halves_away_from_zero():
    x = np.array([[[[-3, -2], [1, 0]], [[3, 2], [-1, 0]]]], dtype=np.int8)  # sums -4 and 4 over 4 -> -1, 1
    x = np.concatenate([x, np.array([[[[-1, -1], [0, 0]], [[1, 1], [0, 0]]]], dtype=np.int8)])  # -2/4, 2/4
    quant = q(0.1, 0)
    g = graph_of(ops.AvgPool(kernel=(2, 2), stride=(2, 2)), [Tensor("x", (1, 2, 2, 2), "int8", quant=quant)],
                 Tensor("y", (1, 2, 1, 1), "int8", quant=quant))
    np.testing.assert_array_equal(run_graph(g, x).reshape(2, 2), [[-1, 1], [-1, 1]])


def test_max_pool_with_dilation_and_padding_matches_loop_reference():
    rng = np.random.default_rng(10)
    x = rand_int8(rng, (1, 2, 9, 9))
    quant = q(0.05, 0, qmin=-100, qmax=100)
    op = ops.MaxPool(kernel=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1), dilation=(2, 2), ceil_mode=True)
    out_shape = op.infer([(1, 2, 9, 9)])
    g = graph_of(op, [Tensor("x", (1, 2, 9, 9), "int8", quant=quant)], Tensor("y", out_shape, "int8", quant=quant))
    expected = np.empty((1, 2, *out_shape[2:]), dtype=np.int8)
    for n, c, oy, ox in np.ndindex(expected.shape):
        values = [int(x[n, c, oy * 2 - 1 + 2 * i, ox * 2 - 1 + 2 * j]) for i in range(3) for j in range(3)
                  if 0 <= oy * 2 - 1 + 2 * i < 9 and 0 <= ox * 2 - 1 + 2 * j < 9]
        expected[n, c, oy, ox] = min(max(max(values), -100), 100)
    np.testing.assert_array_equal(run_graph(g, x), expected)


def test_pool_with_different_input_and_output_quantization_is_refused():
    g = graph_of(ops.MaxPool(), [Tensor("x", (1, 1, 4, 4), "int8", quant=q(0.1, 0))],
                 Tensor("y", (1, 1, 2, 2), "int8", quant=q(0.2, 0)))
    with pytest.raises(GraphError, match="share scale and zero point"):
        run_graph(g, np.zeros((1, 1, 4, 4), np.int8))


@pytest.mark.parametrize("size,out_scale,out_zp", [((5, 7), 0.05, -7), ((8, 8), 0.013, 20), ((3, 1), 0.4, -100)])
def test_global_avg_pool_is_tflite_mean(size, out_scale, out_zp):
    rng = np.random.default_rng(12)
    x = rand_int8(rng, (2, 3, *size))
    g = graph_of(ops.GlobalAvgPool(keepdims=False), [Tensor("x", (1, 3, *size), "int8", quant=q(0.05, -7))],
                 Tensor("y", (1, 3), "int8", quant=q(out_scale, out_zp)))
    count = size[0] * size[1]
    m, s = quantize_multiplier(float(np.float32(0.05)) / float(np.float32(out_scale)))
    k = min(int(math.floor(math.log2(count))), 32, 31 + s)
    m, s = (m << k) // count, s - k
    expected = np.empty((2, 3), dtype=np.int8)
    for n, c in np.ndindex(2, 3):
        total = int(x[n, c].astype(np.int64).sum()) + 7 * count
        expected[n, c] = min(max(int(multiply_by_quantized_multiplier(total, m, s)) + out_zp, -128), 127)
    np.testing.assert_array_equal(run_graph(g, x), expected)


# --- data movement --------------------------------------------------------------------------------

def test_concat_requantizes_inputs_whose_parameters_differ():
    rng = np.random.default_rng(13)
    a, b = rand_int8(rng, (2, 2, 3)), rand_int8(rng, (2, 3, 3))
    out_q = q(0.1, 5)
    g = graph_of(ops.Concat(axis=1), [Tensor("a", (1, 2, 3), "int8", quant=out_q),
                                      Tensor("b", (1, 3, 3), "int8", quant=q(0.3, -10))],
                 Tensor("y", (1, 5, 3), "int8", quant=out_q))
    m, s = quantize_multiplier(float(np.float32(0.3)) / float(np.float32(0.1)))
    b_requantized = np.clip(multiply_by_quantized_multiplier(b.astype(np.int64) + 10, m, s) + 5, -128, 127)
    np.testing.assert_array_equal(run_graph(g, a, b), np.concatenate([a, b_requantized.astype(np.int8)], axis=1))


def test_pad_uses_zero_point_for_zero_and_plus_one_for_binary_tensors():
    x = np.array([[[[1, -1], [-1, 1]]]], dtype=np.int8)
    binary = q(1.0, 0, qmin=-1, qmax=1)
    g = graph_of(ops.Pad(pads=(1, 0, 0, 1), value=1.0), [Tensor("x", (1, 1, 2, 2), "int8", quant=binary)],
                 Tensor("y", (1, 1, 3, 3), "int8", quant=binary))
    np.testing.assert_array_equal(run_graph(g, x)[0, 0], [[1, 1, 1], [1, -1, 1], [-1, 1, 1]])
    affine = q(0.05, -33)
    g = graph_of(ops.Pad(pads=(0, 1, 0, 0), value=0.0), [Tensor("x", (1, 1, 2, 2), "int8", quant=affine)],
                 Tensor("y", (1, 1, 2, 3), "int8", quant=affine))
    np.testing.assert_array_equal(run_graph(g, x)[0, 0], [[-33, 1, -1], [-33, -1, 1]])


def test_reshape_keeps_codes_in_channels_first_order():
    x = np.arange(24, dtype=np.int8).reshape(1, 2, 3, 4)
    quant = q(0.1, 0)
    g = graph_of(ops.Reshape(shape=(24,)), [Tensor("x", (1, 2, 3, 4), "int8", quant=quant)],
                 Tensor("y", (1, 24), "int8", quant=quant))
    np.testing.assert_array_equal(run_graph(g, x), x.reshape(1, 24))


# --- activations and boundaries -------------------------------------------------------------------

CODES = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)


def test_sign_is_plus_one_at_and_above_the_zero_point():
    g = graph_of(ops.Sign(), [Tensor("x", (1, 256), "int8", quant=q(0.05, -3))],
                 Tensor("y", (1, 256), "int8", quant=q(1.0, 0, qmin=-1, qmax=1)))
    np.testing.assert_array_equal(run_graph(g, CODES), np.where(CODES >= -3, 1, -1))


@pytest.mark.parametrize("steps", [1, 7, -2])
def test_sign_threshold_halfway_between_grid_values(steps):
    """threshold = s * (steps - 1/2): +1 from the code zp + steps on, as the float rule says."""
    scale = 0.05
    g = graph_of(ops.Sign(threshold=sign_threshold(steps, scale)), [Tensor("x", (1, 256), "int8", quant=q(scale, -3))],
                 Tensor("y", (1, 256), "int8", quant=q(1.0, 0, qmin=-1, qmax=1)))
    got = run_graph(g, CODES)
    np.testing.assert_array_equal(got, np.where(CODES.astype(int) >= -3 + steps, 1, -1))
    real = np.float32(scale) * (CODES.astype(np.float32) + 3)
    np.testing.assert_array_equal(got, np.where(real >= g.nodes[0].op.threshold, 1, -1))


@pytest.mark.parametrize("lo,hi,out_q", [(0.0, None, q(0.05, -3)), (0.0, 6.0, q(0.05, -3)),
                                          (-1.0, 1.0, q(0.01, 0)), (0.0, 1.0, q(1 / 7, -128, qmin=-128, qmax=-121))])
def test_clip_requantizes_then_clamps_to_the_activation_range(lo, hi, out_q):
    in_q = q(0.05, -3)
    g = graph_of(ops.Clip(lo=lo, hi=hi), [Tensor("x", (1, 256), "int8", quant=in_q)],
                 Tensor("y", (1, 256), "int8", quant=out_q))
    m, s = quantize_multiplier(float(np.float32(0.05) / np.float32(out_q.scale[0])))
    qlo, qhi = activation_range((lo, hi), out_q)
    expected = [min(max(int(multiply_by_quantized_multiplier(int(c) + 3, m, s)) + int(out_q.zero_point[0]), qlo), qhi)
                for c in CODES[0]]
    np.testing.assert_array_equal(run_graph(g, CODES)[0], expected)


@pytest.mark.parametrize("name,fn", [
    ("Hardsigmoid", lambda v: min(max(v + 3.0, 0.0), 6.0) / 6.0),
    ("SiLU", lambda v: v / (1.0 + math.exp(-v))),
])
def test_lookup_table_activations_round_the_float_function(name, fn):
    in_q, out_q = q(0.05, -3), q(1 / 255 if name == "Hardsigmoid" else 0.03, -128 if name == "Hardsigmoid" else -20)
    g = graph_of(ops.OPS[name](), [Tensor("x", (1, 256), "int8", quant=in_q)], Tensor("y", (1, 256), "int8", quant=out_q))
    s_in, s_out, zp_out = float(np.float32(0.05)), float(out_q.scale[0]), int(out_q.zero_point[0])
    expected = []
    for c in CODES[0]:
        ratio = fn(s_in * (int(c) + 3)) / s_out
        rounded = int(math.floor(abs(ratio) + 0.5)) * (1 if ratio >= 0 else -1)
        expected.append(min(max(zp_out + rounded, -128), 127))
    np.testing.assert_array_equal(run_graph(g, CODES)[0], expected)


def test_quantize_rounds_half_away_from_zero_and_clamps_to_qmin_qmax():
    scale = 0.25  # exact in float32, so x / scale lands exactly on halves
    x = np.array([[0.125, -0.125, 0.375, -0.375, 100.0, -100.0, 0.0, 0.2]], dtype=np.float32)
    out_q = q(scale, -2, qmin=-128, qmax=60)
    g = graph_of(ops.Quantize(), [Tensor("x", (1, 8), "float32")], Tensor("y", (1, 8), "int8", quant=out_q))
    np.testing.assert_array_equal(run_graph(g, x), [[-1, -3, 0, -4, 60, -128, -2, -1]])


def test_quantize_saturates_out_of_range_values_and_maps_nan_to_qmin():
    x = np.array([[np.inf, -np.inf, 1e30, -1e30, np.nan, 3e9]], dtype=np.float32)
    g = graph_of(ops.Quantize(), [Tensor("x", (1, 6), "float32")], Tensor("y", (1, 6), "int8", quant=q(0.07, -3)))
    np.testing.assert_array_equal(run_graph(g, x), [[127, -128, 127, -128, -128, 127]])


def test_dequantize_is_scale_times_code_minus_zero_point():
    g = graph_of(ops.Dequantize(), [Tensor("x", (1, 256), "int8", quant=q(0.037, 11))], Tensor("y", (1, 256), "float32"))
    expected = (float(np.float32(0.037)) * (CODES.astype(np.float64) - 11)).astype(np.float32)
    y = run_graph(g, CODES)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, expected)


def test_softmax_output_is_tflite_int8_on_uniform_and_peaked_rows():
    x = np.array([[5, 5, 5, 5], [127, -128, -128, -128]], dtype=np.int8)
    g = graph_of(ops.Softmax(axis=1), [Tensor("x", (1, 4), "int8", quant=q(0.1, 0))],
                 Tensor("y", (1, 4), "int8", quant=q(1 / 256, -128)))
    y = run_graph(g, x)
    np.testing.assert_array_equal(y[0], [-64, -64, -64, -64])  # 0.25 * 256 - 128
    np.testing.assert_array_equal(y[1], [127, -128, -128, -128])


def test_softmax_with_other_output_quantization_is_refused():
    g = graph_of(ops.Softmax(axis=1), [Tensor("x", (1, 4), "int8", quant=q(0.1, 0))],
                 Tensor("y", (1, 4), "int8", quant=q(0.01, 0)))
    with pytest.raises(GraphError, match="1/256"):
        run_graph(g, np.zeros((1, 4), np.int8))


def test_count_leading_zeros_is_exact_at_powers_of_two():
    values = sorted({v for e in range(32) for v in ((1 << e) - 1, 1 << e, (1 << e) + 1)} | {2**32 - 1})
    got = count_leading_zeros32(np.array(values, dtype=np.int64))
    np.testing.assert_array_equal(got, [32 - int(v).bit_length() for v in values])


def test_requantization_record_is_exposed_for_backends():
    """Backends reuse the exact multipliers the reference uses."""
    x_t = Tensor("x", (1, 4), "int8", quant=q(0.061, -9))
    w = np.ones((2, 4), np.int8)
    g = graph_of(ops.Linear(), [x_t, Tensor("w", w.shape, "int8", quant=q(0.0123, 0), data=w), None],
                 Tensor("y", (1, 2), "int8", quant=q(0.17, -30)))
    r = weighted_requantization(g.nodes[0], g)
    expected = quantize_multiplier(float(np.float32(0.061)) * float(np.float32(0.0123)) / float(np.float32(0.17)))
    assert (int(r.multiplier[0]), int(r.shift[0])) == expected and (r.qmin, r.qmax, r.zero_point) == (-128, 127, -30)
