"""int8 convolution kernels (every variant, every instruction set built here) against
(a) the plain integer implementation in intref.py and (b) the reference executor's Conv kernel."""

import ctypes

import numpy as np
import pytest

from edgeconv.backends.c.lowering import pad_im2col_weights
from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
from edgeconv.reference.executor import INT_KERNELS
import edgeconv.reference.int_kernels  # noqa: F401
from tests.kernels.cbuild import QParams, hwc_to_nchw, kernel_library, nchw_to_hwc, ptr, isas_to_test, window
from tests.kernels.intref import conv_int, multipliers, requant

# (C_in, H, W, C_out, k, stride, pads (t,l,b,r), dilation, groups)
GENERAL = [
    (3, 7, 9, 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (5, 8, 8, 7, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
    (4, 9, 6, 6, (3, 2), (1, 2), (0, 1, 2, 0), (1, 1), 1),
    (6, 10, 10, 4, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1),
    (1, 5, 5, 1, (5, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (33, 6, 5, 17, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (8, 7, 7, 12, (3, 3), (2, 1), (1, 0, 1, 2), (1, 1), 4),
    (16, 4, 4, 16, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (7, 1, 12, 9, (1, 3), (1, 2), (0, 1, 0, 1), (1, 2), 1),
]
DEPTHWISE = [
    (8, 7, 7, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (13, 9, 8, 13, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    (70, 5, 6, 70, (3, 3), (1, 2), (0, 1, 2, 1), (1, 1)),
    (6, 9, 9, 12, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1)),
    (5, 9, 9, 5, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),
]
CONV_ARGS = [ctypes.c_void_p] * 7


def out_size(n, k, s, p0, p1, d):
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def make_case(seed, cin, h, w, cout, k, cin_g, zp_in=7, zp_out=-5, clamp=(-100, 120)):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(1, cin, h, w)).astype(np.int8)
    wt = rng.integers(-127, 128, size=(cout, cin_g, *k)).astype(np.int8)
    bias = rng.integers(-5000, 5000, size=cout).astype(np.int32)
    mult, shift = multipliers(rng.uniform(1e-4, 4e-3, size=cout))
    return x, wt, bias, mult, shift, QParams(zp_in, zp_out, *clamp)


def run_conv(isa, kernel, x, w_c, bias, mult, shift, win, q, scratch_bytes=0):
    lib = kernel_library(isa)
    fn = getattr(lib, kernel)
    out = np.zeros((win.out_h, win.out_w, win.out_c), dtype=np.int8)
    xin = nchw_to_hwc(x)
    args = [ptr(xin), ptr(w_c), ptr(bias), ptr(mult), ptr(shift), ctypes.byref(win), ctypes.byref(q)]
    if scratch_bytes:
        scratch = np.zeros(scratch_bytes, dtype=np.int8)
        args.append(ptr(scratch))
    args.append(ptr(out))
    fn(*args)
    return hwc_to_nchw(out)


def reference_conv(x, wt, bias, q, stride, pads, dilation, groups, mult, shift):
    acc = conv_int(x, wt, bias, q.in_zp, stride, pads, dilation, groups)
    return requant(acc, mult, shift, q.out_zp, q.act_min, q.act_max)


def executor_conv(x, wt, bias, stride, pads, dilation, groups, zp_in, zp_out, s_out=0.05):
    """The reference executor's Conv on a one-node graph (its own multipliers from scales)."""
    cout = wt.shape[0]
    s_w = np.linspace(0.001, 0.004, cout)
    g = Graph()
    g.add_tensor(Tensor("x", x.shape, "int8", quant=QuantParams(0.02, zp_in)))
    g.add_tensor(Tensor("w", wt.shape, "int8", quant=QuantParams(s_w, np.zeros(cout), axis=0), data=wt))
    g.add_tensor(Tensor("b", (cout,), "int32", quant=QuantParams(0.02 * s_w, np.zeros(cout), axis=0), data=bias))
    op = ops.Conv(stride=stride, pads=(pads[0], pads[1], pads[2], pads[3]), dilation=dilation, groups=groups, clamp=(0.0, None))
    shape = op.infer([x.shape, wt.shape, (cout,)])
    g.add_tensor(Tensor("y", shape, "int8", quant=QuantParams(s_out, zp_out)))
    node = Node("conv", op, ["x", "w", "b"], "y", precision="int8")
    g.add_node(node)
    expected = INT_KERNELS["Conv"](node, g, x, wt, bias)
    mult, shift = multipliers(0.02 * s_w / s_out)
    qlo = max(-128, zp_out)  # ReLU clamp
    return expected, mult, shift, qlo


def run_variant(isa, name, x, wt, bias, mult, shift, win, q):
    """Run an OHWI-weight variant with the weight layout and scratch the code generator gives it."""
    w_rows = np.moveaxis(wt, 1, -1).reshape(wt.shape[0], -1)
    if name == "ec_s8_conv2d_im2col":
        w_rows = pad_im2col_weights(w_rows)
        return run_conv(isa, name, x, np.ascontiguousarray(w_rows), bias, mult, shift, win, q, win.out_w * w_rows.shape[1])
    return run_conv(isa, name, x, np.ascontiguousarray(w_rows), bias, mult, shift, win, q)


def ohwi(wt):
    return np.ascontiguousarray(np.moveaxis(wt, 1, -1))


def hwo(wt):
    return np.ascontiguousarray(np.moveaxis(wt[:, 0], 0, -1))


def general_variants(case):
    cin, h, w, cout, k, stride, pads, dilation, groups = case
    names = ["ec_s8_conv2d_slidingwin"]
    if groups == 1:
        names.append("ec_s8_conv2d_im2col")
    if groups == 1 and k == (1, 1) and stride == (1, 1) and not any(pads):
        names.append("ec_s8_conv2d_1x1")
    return names


@pytest.mark.parametrize("isa", isas_to_test())
@pytest.mark.parametrize("case", GENERAL, ids=lambda c: "c{}_{}x{}_o{}_k{}_s{}_p{}_d{}_g{}".format(
    c[0], c[1], c[2], c[3], "x".join(map(str, c[4])), "x".join(map(str, c[5])), "".join(map(str, c[6])),
    "x".join(map(str, c[7])), c[8]))
def test_conv_variants_match_plain_integer_formula(isa, case):
    cin, h, w, cout, k, stride, pads, dilation, groups = case
    x, wt, bias, mult, shift, q = make_case(hash(case) % 1000, cin, h, w, cout, k, cin // groups)
    oh = out_size(h, k[0], stride[0], pads[0], pads[2], dilation[0])
    ow = out_size(w, k[1], stride[1], pads[1], pads[3], dilation[1])
    win = window((h, w, cin), (oh, ow, cout), k, stride, pads, dilation, groups)
    expected = reference_conv(x, wt, bias, q, stride, pads, dilation, groups, mult, shift)
    if expected.size > 30:
        assert len(np.unique(expected)) > 10, "test data should exercise the requantization"
    for name in general_variants(case):
        got = run_variant(isa, name, x, wt, bias, mult, shift, win, q)
        np.testing.assert_array_equal(got, expected, err_msg=name)


@pytest.mark.parametrize("isa", isas_to_test())
@pytest.mark.parametrize("case", DEPTHWISE, ids=lambda c: f"c{c[0]}_m{c[3] // c[0]}_k{c[4][0]}_s{c[5][0]}{c[5][1]}_d{c[7][0]}")
def test_depthwise_variants_match_plain_integer_formula(isa, case):
    cin, h, w, cout, k, stride, pads, dilation = case
    x, wt, bias, mult, shift, q = make_case(sum(case[:4]), cin, h, w, cout, k, 1, zp_in=-3, zp_out=11, clamp=(-128, 127))
    oh = out_size(h, k[0], stride[0], pads[0], pads[2], dilation[0])
    ow = out_size(w, k[1], stride[1], pads[1], pads[3], dilation[1])
    win = window((h, w, cin), (oh, ow, cout), k, stride, pads, dilation, cin)
    expected = reference_conv(x, wt, bias, q, stride, pads, dilation, cin, mult, shift)
    names = ["ec_s8_dwconv2d_generic", "ec_s8_conv2d_slidingwin"]
    if k == (3, 3) and cout == cin and dilation == (1, 1):
        names.append("ec_s8_dwconv2d_3x3")
    for name in names:
        w_c = ohwi(wt) if name == "ec_s8_conv2d_slidingwin" else hwo(wt)
        got = run_conv(isa, name, x, w_c, bias, mult, shift, win, q)
        np.testing.assert_array_equal(got, expected, err_msg=name)


@pytest.mark.parametrize("isa", isas_to_test())
@pytest.mark.parametrize("groups", [1, 3])
def test_conv_matches_reference_executor(isa, groups):
    rng = np.random.default_rng(groups)
    x = rng.integers(-128, 128, size=(1, 6, 8, 7)).astype(np.int8)
    wt = rng.integers(-127, 128, size=(9, 6 // groups, 3, 3)).astype(np.int8)
    bias = rng.integers(-3000, 3000, size=9).astype(np.int32)
    stride, pads, dilation = (2, 1), (1, 0, 1, 2), (1, 2)
    expected, mult, shift, qlo = executor_conv(x, wt, bias, stride, pads, dilation, groups, zp_in=-9, zp_out=4)
    q = QParams(-9, 4, qlo, 127)
    oh, ow = expected.shape[2:]
    win = window((8, 7, 6), (oh, ow, 9), (3, 3), stride, pads, dilation, groups)
    names = ["ec_s8_conv2d_slidingwin"] + (["ec_s8_conv2d_im2col"] if groups == 1 else [])
    for name in names:
        got = run_variant(isa, name, x, wt, bias, mult, shift, win, q)
        np.testing.assert_array_equal(got, expected, err_msg=name)


@pytest.mark.parametrize("isa", isas_to_test())
def test_accumulator_extremes_do_not_overflow(isa):
    """All inputs at -128 with zp 127 (x - zp = -255) and weights at +-127 over a large K."""
    cin, k = 256, (3, 3)
    x = np.full((1, cin, 3, 3), -128, dtype=np.int8)
    wt = np.full((4, cin, *k), 127, dtype=np.int8)
    wt[1] = -127
    wt[2, ::2] = -127
    bias = np.array([2**20, -(2**20), 0, 7], dtype=np.int32)
    mult, shift = multipliers(np.full(4, 1e-5))
    q = QParams(127, 0, -128, 127)
    win = window((3, 3, cin), (1, 1, 4), k, (1, 1), (0, 0, 0, 0), (1, 1))
    expected = reference_conv(x, wt, bias, q, (1, 1), (0, 0, 0, 0), (1, 1), 1, mult, shift)
    for name in ("ec_s8_conv2d_slidingwin", "ec_s8_conv2d_im2col"):
        got = run_variant(isa, name, x, wt, bias, mult, shift, win, q)
        np.testing.assert_array_equal(got, expected, err_msg=name)
    assert expected[0, 0, 0, 0] == -128 and expected[0, 1, 0, 0] == 127
