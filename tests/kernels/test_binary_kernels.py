"""XNOR-popcount and DoReFa bit-serial convolutions: exact int8 results, documented bit order."""

import ctypes

import numpy as np
import pytest

from edgeconv.backends.c.lowering import pack_bitserial_weights, pack_bits, pack_xnor_weights
from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
from edgeconv.reference.executor import INT_KERNELS
import edgeconv.reference.int_kernels  # noqa: F401
from tests.kernels.cbuild import QParams, hwc_to_nchw, isas_to_test, kernel_library, nchw_to_hwc, ptr, window
from tests.kernels.intref import conv_int, multipliers, requant

# (C_in, H, W, C_out, k, stride, pads (t,l,b,r), dilation)
CASES = [
    (1, 5, 5, 3, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (31, 6, 5, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (32, 5, 6, 5, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    (33, 6, 6, 7, (3, 3), (1, 2), (0, 1, 2, 1), (1, 1)),
    (64, 4, 4, 8, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),
    (70, 7, 7, 6, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),
]
IDS = [f"c{c[0]}_{c[1]}x{c[2]}_o{c[3]}_k{c[4][0]}_s{c[5][0]}{c[5][1]}_d{c[7][0]}" for c in CASES]


def out_hw(h, w, k, stride, pads, dilation):
    oh = (h + pads[0] + pads[2] - dilation[0] * (k[0] - 1) - 1) // stride[0] + 1
    ow = (w + pads[1] + pads[3] - dilation[1] * (k[1] - 1) - 1) // stride[1] + 1
    return oh, ow


def ext(o, k, s, d):
    return (o - 1) * s + d * (k - 1) + 1


def test_pack_bits_order():
    """Channel c is bit c % 32 of word c // 32; unused high bits of the last word are zero."""
    bits = np.zeros((1, 70), dtype=np.uint64)
    bits[0, [0, 31, 33, 69]] = 1
    words = pack_bits(bits)
    assert words.dtype == np.uint32 and words.shape == (1, 3)
    assert words[0, 0] == (1 | (1 << 31)) and words[0, 1] == (1 << 1) and words[0, 2] == (1 << 5)


def test_pack_xnor_weights_sets_bits_for_minus_one():
    w = np.ones((2, 35, 1, 1), dtype=np.int8)
    w[1, 34] = -1
    packed = pack_xnor_weights(w)
    assert packed.shape == (2, 1, 2)
    assert packed[0].sum() == 0 and packed[1, 0, 0] == 0 and packed[1, 0, 1] == 1 << 2


@pytest.mark.parametrize("isa", isas_to_test())
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_xnor_conv_equals_int8_formula_with_one_padding(isa, case):
    cin, h, w, cout, k, stride, pads, dilation = case
    rng = np.random.default_rng(cin * 7 + h)
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=(1, cin, h, w))
    wt = rng.choice(np.array([-1, 1], dtype=np.int8), size=(cout, cin, *k))
    bias = rng.integers(-50, 50, size=cout).astype(np.int32)
    mult, shift = multipliers(rng.uniform(0.01, 0.05, size=cout))
    q = QParams(0, 3, -100, 127)
    # One-padding: the int8 formula on the input padded with +1 and no further padding.
    x_padded = np.ones((1, cin, h + pads[0] + pads[2], w + pads[1] + pads[3]), dtype=np.int8)
    x_padded[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = x
    acc = conv_int(x_padded, wt, bias, 0, stride, (0, 0, 0, 0), dilation, 1)
    expected = requant(acc, mult, shift, q.out_zp, q.act_min, q.act_max)
    oh, ow = out_hw(h, w, k, stride, pads, dilation)
    win = window((h, w, cin), (oh, ow, cout), k, stride, pads, dilation)
    words = (cin + 31) // 32
    scratch = np.zeros((ext(oh, k[0], stride[0], dilation[0]) * ext(ow, k[1], stride[1], dilation[1]) + k[0] * k[1]) * words,
                       dtype=np.uint32)
    out = np.zeros((oh, ow, cout), dtype=np.int8)
    w_bits = np.ascontiguousarray(pack_xnor_weights(wt))
    xin = nchw_to_hwc(x)
    kernel_library(isa).ec_b1_conv2d_xnor(ptr(xin), ptr(w_bits), ptr(bias), ptr(mult), ptr(shift), ctypes.byref(win),
                                          ctypes.byref(q), ptr(scratch), ptr(out))
    np.testing.assert_array_equal(hwc_to_nchw(out), expected)


@pytest.mark.parametrize("isa", isas_to_test())
@pytest.mark.parametrize("bits", [(1, 1), (2, 2), (4, 4), (3, 2), (8, 1), (2, 4)], ids=lambda b: f"a{b[0]}w{b[1]}")
@pytest.mark.parametrize("case", CASES[1:], ids=IDS[1:])
def test_bitserial_conv_equals_int8_formula(isa, bits, case):
    m_bits, k_bits = bits
    cin, h, w, cout, k, stride, pads, dilation = case
    rng = np.random.default_rng(cin + m_bits * 10 + k_bits)
    x = (rng.integers(0, 1 << m_bits, size=(1, cin, h, w)) - 128).astype(np.int8)
    wt = (2 * rng.integers(0, 1 << k_bits, size=(cout, cin, *k)) - ((1 << k_bits) - 1)).astype(np.int8)
    bias = rng.integers(-300, 300, size=cout).astype(np.int32)
    mult, shift = multipliers(rng.uniform(0.001, 0.02, size=cout))
    q = QParams(-128, -7, -128, 120)
    acc = conv_int(x, wt, bias, -128, stride, pads, dilation, 1)
    expected = requant(acc, mult, shift, q.out_zp, q.act_min, q.act_max)
    oh, ow = out_hw(h, w, k, stride, pads, dilation)
    win = window((h, w, cin), (oh, ow, cout), k, stride, pads, dilation)
    words = (cin + 31) // 32
    scratch = np.zeros((ext(oh, k[0], stride[0], dilation[0]) * ext(ow, k[1], stride[1], dilation[1]) + k[0] * k[1])
                       * words * m_bits, dtype=np.uint32)
    out = np.zeros((oh, ow, cout), dtype=np.int8)
    planes = np.ascontiguousarray(pack_bitserial_weights(wt, k_bits))
    xin = nchw_to_hwc(x)
    kernel_library(isa).ec_s8_conv2d_bitserial(ptr(xin), ptr(planes), ptr(bias), ptr(mult), ptr(shift), ctypes.byref(win),
                                               ctypes.byref(q), m_bits, k_bits, ptr(scratch), ptr(out))
    np.testing.assert_array_equal(hwc_to_nchw(out), expected)


def test_xnor_matches_reference_executor_pad_then_conv():
    """Sign-valued input, Pad(+1) then a VALID w1a1 conv in the reference executor."""
    rng = np.random.default_rng(5)
    cin, cout = 40, 6
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=(1, cin, 6, 6))
    wt = rng.choice(np.array([-1, 1], dtype=np.int8), size=(cout, cin, 3, 3))
    bias = rng.integers(-20, 20, size=cout).astype(np.int32)
    alpha = rng.uniform(0.5, 1.0, size=cout)
    g = Graph()
    sq = QuantParams(1.0, 0, qmin=-1, qmax=1)
    g.add_tensor(Tensor("x", x.shape, "int8", quant=sq))
    g.add_tensor(Tensor("xp", (1, cin, 8, 8), "int8", quant=sq))
    g.add_tensor(Tensor("w", wt.shape, "int8", quant=QuantParams(alpha, np.zeros(cout), axis=0), data=wt))
    g.add_tensor(Tensor("b", (cout,), "int32", quant=QuantParams(alpha, np.zeros(cout), axis=0), data=bias))
    g.add_tensor(Tensor("y", (1, cout, 6, 6), "int8", quant=QuantParams(0.4, -2)))
    pad = Node("pad", ops.Pad(pads=(1, 1, 1, 1), value=1.0), ["x"], "xp", precision="w1a1")
    conv = Node("conv", ops.Conv(pads=(0, 0, 0, 0)), ["xp", "w", "b"], "y", precision="w1a1")
    g.add_node(pad)
    g.add_node(conv)
    xp = INT_KERNELS["Pad"](pad, g, x)
    expected = INT_KERNELS["Conv"](conv, g, xp, wt, bias)
    mult, shift = multipliers(alpha / 0.4)
    q = QParams(0, -2, -128, 127)
    win = window((6, 6, cin), (6, 6, cout), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1))
    scratch = np.zeros((8 * 8 + 9) * 2, dtype=np.uint32)
    out = np.zeros((6, 6, cout), dtype=np.int8)
    w_bits = np.ascontiguousarray(pack_xnor_weights(wt))
    xin = nchw_to_hwc(x)
    kernel_library("portable").ec_b1_conv2d_xnor(ptr(xin), ptr(w_bits), ptr(bias), ptr(mult), ptr(shift),
                                                 ctypes.byref(win), ctypes.byref(q), ptr(scratch), ptr(out))
    np.testing.assert_array_equal(hwc_to_nchw(out), expected)
