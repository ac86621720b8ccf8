"""int8 convolution kernels (every variant, every instruction set built here) against
(a) the plain integer implementation in intref.py and (b) the reference executor's Conv kernel."""

import ctypes
import subprocess

import numpy as np
import pytest

from edgeconv.kernels.geometry import LayerGeometry
from edgeconv.kernels.packing import (im2col_edge_positions, im2col_indirect, im2col_scratch_bytes, im2col_unfold_rows,
                                     im2col_weight_rows, pack_gemm_weights)
from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
from edgeconv.reference.int_kernels import INT_KERNELS
from tests.kernels.cbuild import (QParams, hwc_to_nchw, isas_to_test, isas_with_amx, isas_with_avx512, kernel_library,
                                  nchw_to_hwc, ptr, window)
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
    # at most 9 taps: the im2col GEMM reads taps in place (indirect), tiles across rows
    (8, 9, 7, 20, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 1),
    (12, 6, 5, 65, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (4, 7, 7, 3, (2, 2), (1, 1), (0, 0, 1, 1), (2, 1), 1),
    (16, 9, 9, 64, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1),  # AMX (where built): dilated taps one by one
    # unfolded: more than 9 taps, more than 256 channels
    (4, 6, 6, 5, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1),
    (260, 3, 3, 18, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    # unfolded kernel rows: one channel (KWS DS-CNN's 10x4 stem), runs of 2, 20 and 60 bytes, dilated
    (1, 12, 10, 16, (10, 4), (2, 2), (4, 1, 5, 1), (1, 1), 1),
    (2, 9, 11, 5, (4, 4), (1, 2), (3, 2, 3, 1), (2, 3), 1),
    (20, 5, 6, 3, (4, 3), (1, 1), (1, 1, 2, 1), (1, 1), 1),
    # 1x1 with C_in not a multiple of 4 and channel counts around the 16-lane blocks
    (13, 5, 3, 49, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (3, 4, 4, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (64, 3, 7, 64, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
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


def run_conv(isa, kernel, x, w_c, bias, mult, shift, win, q, extra=(), scratch=None):
    """Run a conv kernel; ``extra`` are the arrays between bias and mult (the packed kernels'
    wsum), ``scratch`` a byte count (an array of that size is passed, or NULL for 0)."""
    lib = kernel_library(isa)
    fn = getattr(lib, kernel)
    out = np.zeros((win.out_h, win.out_w, win.out_c), dtype=np.int8)
    xin = nchw_to_hwc(x)
    args = [ptr(xin), ptr(w_c), ptr(bias), *map(ptr, extra), ptr(mult), ptr(shift), ctypes.byref(win), ctypes.byref(q)]
    if scratch is not None:
        buf = np.zeros(scratch, dtype=np.int8)
        args.append(ptr(buf) if scratch else None)
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


def gemm_arrays(w_rows):
    """Packed weights and weight sums, as the code generator emits them for the GEMM kernels."""
    return np.ascontiguousarray(pack_gemm_weights(w_rows)), w_rows.astype(np.int64).sum(axis=1).astype(np.int32)


def run_variant(isa, name, x, wt, bias, mult, shift, win, q):
    """Run a variant with the weight layout and scratch the code generator gives it."""
    w_rows = np.ascontiguousarray(np.moveaxis(wt, 1, -1).reshape(wt.shape[0], -1))
    if name == "ec_s8_conv2d_slidingwin":
        return run_conv(isa, name, x, w_rows, bias, mult, shift, win, q)
    scratch = None
    if name == "ec_s8_conv2d_im2col":
        w_rows = np.ascontiguousarray(im2col_weight_rows(w_rows, win.in_c, win.k_h, win.k_w, win.dil_w))
        scratch = im2col_scratch_bytes(win.in_c, win.k_h, win.k_w, win.out_h, win.out_w, win.out_c)
    packed, wsum = gemm_arrays(w_rows)
    return run_conv(isa, name, x, packed, bias, mult, shift, win, q, extra=(wsum,), scratch=scratch)


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


@pytest.mark.parametrize("isa", isas_with_amx())
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


@pytest.mark.parametrize("isa", isas_with_amx())
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


def floored_requant(acc, mult, shift, zp_out, lo, hi):
    """The requantization without its term for negative products (x86 output stages whose clamp
    floors every result at or below the zero point: the floored ec_x86_requantize16_high), for right
    shifts, channels on axis 1."""
    m = np.asarray(mult, dtype=np.int64).reshape(1, -1, 1, 1)
    e = -np.asarray(shift, dtype=np.int64).reshape(1, -1, 1, 1)
    add = (1 << 30) + np.where(e > 0, np.left_shift(1, 30 + e), 0)
    return np.clip(((acc.astype(np.int64) * m + add) >> (31 + e)) + zp_out, lo, hi).astype(np.int8)


ZERO_POINT_CLAMP_KERNELS = ("ec_s8_conv2d_im2col", "ec_s8_conv2d_1x1", "ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic")


class ZeroPointTieCase:
    """A layer whose accumulators run from -300 to 300 (one weight of 1 per output: the input code
    minus its zero point, plus a bias) under power-of-two scales, so that many fall on the rounding
    ties where the requantization without its term for negative products (the SIMD output stages
    whose clamp floors every result <= 0) differs from the exact one; ``clamps`` gives the ReLU
    clamp at the zero point, where both give the same bytes, and one code below it, where they do
    not."""

    def __init__(self, name: str):
        rng = np.random.default_rng(11)
        c, h, w, self.zp_in, self.zp_out = 24, 8, 13, 3, -6
        self.depthwise = "dwconv" in name
        self.x = rng.integers(-128, 128, size=(1, c, h, w)).astype(np.int8)
        if self.depthwise:
            self.wt = np.zeros((c, 1, 3, 3), dtype=np.int8)
            self.wt[:, 0, 1, 1] = 1
            self.geometry = ((1, 1), (1, 1, 1, 1), (1, 1), c)  # stride, pads, dilation, groups
        else:
            self.wt = np.zeros((c, c, 1, 1), dtype=np.int8)
            self.wt[np.arange(c), np.arange(c)] = 1
            self.geometry = ((1, 1), (0, 0, 0, 0), (1, 1), 1)
        self.bias = rng.integers(-45, 45, size=c).astype(np.int32)
        # the first 16 channels (a full block) all shift right, as the NEON short forms need; the
        # last 8 may not shift at all (scale 1/2)
        self.mult, self.shift = multipliers(2.0 ** -np.concatenate([rng.integers(2, 7, size=16), rng.integers(1, 7, size=8)]))
        self.win = window((h, w, c), (h, w, c), self.wt.shape[2:], *self.geometry)
        self.acc = conv_int(self.x, self.wt, self.bias, self.zp_in, *self.geometry)
        self.clamps = (QParams(self.zp_in, self.zp_out, self.zp_out, 127),
                       QParams(self.zp_in, self.zp_out, self.zp_out - 1, 127))

    def expected(self, q) -> np.ndarray:
        return requant(self.acc, self.mult, self.shift, q.out_zp, q.act_min, q.act_max)


@pytest.mark.parametrize("isa", isas_with_amx())
@pytest.mark.parametrize("name", ZERO_POINT_CLAMP_KERNELS)
def test_relu_clamp_at_the_zero_point_alone_drops_the_negative_rounding_term(isa, name):
    """The x86 output stages drop the rounding term for negative products where act_min >= out_zp
    and must keep it one code below (ZeroPointTieCase): an output stage that drops it in the wrong
    place fails here."""
    case = ZeroPointTieCase(name)
    below = case.clamps[1]
    wrong = floored_requant(case.acc, case.mult, case.shift, case.zp_out, below.act_min, below.act_max)
    assert (wrong != case.expected(below)).sum() >= 10
    for q in case.clamps:
        got = (run_conv(isa, name, case.x, hwo(case.wt), case.bias, case.mult, case.shift, case.win, q)
               if case.depthwise else run_variant(isa, name, case.x, case.wt, case.bias, case.mult, case.shift,
                                                  case.win, q))
        np.testing.assert_array_equal(got, case.expected(q), err_msg=f"act_min {q.act_min}, out_zp {q.out_zp}")


# Per-channel scales for ZeroPointTieCase's 24 channels (a block of 16, then a narrow block of 8):
# powers of two (many rounding ties) with right shifts of 1 to 23 everywhere (the x86 AVX-512
# high-half form, both ends of its range), or lanes of a block outside that range (a left shift,
# no shift, a right shift of 24), whose block then takes the general form.
HIGH_HALF_SCALES = np.tile(2.0 ** -np.array([2, 24, 3, 4]), 6)


def high_half_scales_except(changes: dict) -> np.ndarray:
    scales = HIGH_HALF_SCALES.copy()
    scales[list(changes)] = list(changes.values())
    return scales


OUTPUT_STAGE_SCALES = {
    "high-half": HIGH_HALF_SCALES,
    "general first block": high_half_scales_except({5: 1.5, 9: 0.75}),
    "general narrow block": high_half_scales_except({17: 2.0**-25, 20: 0.5}),
}


@pytest.mark.parametrize("isa", isas_with_amx())
@pytest.mark.parametrize("name", ZERO_POINT_CLAMP_KERNELS + ("ec_s8_fully_connected",))
@pytest.mark.parametrize("scales", OUTPUT_STAGE_SCALES)
def test_output_stages_in_every_requantization_form(isa, name, scales):
    """Accumulators from -300 to 300 (ZeroPointTieCase) requantized by every form of the x86 output
    stages, under clamps that floor at the zero point, below it and on both sides."""
    case = ZeroPointTieCase(name)
    mult, shift = multipliers(OUTPUT_STAGE_SCALES[scales])
    for lo, hi in ((case.zp_out, 127), (-128, 127), (-20, 30)):
        q = QParams(case.zp_in, case.zp_out, lo, hi)
        expected = requant(case.acc, mult, shift, q.out_zp, lo, hi)
        if name == "ec_s8_fully_connected":
            x = np.ascontiguousarray(case.x[0, :, 0, 0])
            got = run_fully_connected(isa, x, case.wt[:, :, 0, 0], case.bias, mult, shift, q)[None, :, None, None]
            expected = expected[:, :, :1, :1]
        elif case.depthwise:
            got = run_conv(isa, name, case.x, hwo(case.wt), case.bias, mult, shift, case.win, q)
        else:
            got = run_variant(isa, name, case.x, case.wt, case.bias, mult, shift, case.win, q)
        np.testing.assert_array_equal(got, expected, err_msg=f"clamp [{lo}, {hi}]")


@pytest.mark.parametrize("isa", isas_with_amx())
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


def test_im2col_scratch_mirrors_the_kernel_condition():
    """The generator plans scratch exactly where the kernel unfolds (EC_IM2COL_INDIRECT)."""
    assert im2col_indirect(16, 3, 3) and im2col_indirect(3, 3, 3) and im2col_scratch_bytes(3, 3, 3, 32, 32, 16) == 0
    assert not im2col_indirect(3, 5, 5) and im2col_scratch_bytes(3, 5, 5, 32, 32, 16) == 32 * 76 + 4
    assert not im2col_indirect(260, 3, 3) and not im2col_indirect(8, 5, 5) and im2col_indirect(256, 3, 3)
    rows = im2col_weight_rows(np.arange(2 * 9 * 3).reshape(2, 27), 3, 3, 3, 1)
    assert rows.shape == (2, 36) and rows[1, 4:8].tolist() == [30, 31, 32, 0]


@pytest.mark.parametrize("isa", isas_with_amx())
def test_im2col_with_weights_past_the_shared_bytes_unfolds_blocks_of_rows(isa):
    """512 input channels, 3x3, 240 output channels: 1.1 MB of weights, so the kernel unfolds
    blocks of 8 of the 7-pixel rows (EC_IM2COL_BLOCK_BYTES // (7 * 4608)): a 10-row output runs a
    block of 8 rows and one of 2, equal to the integer formula. (That the C walk takes those blocks
    is the segment-counting test's check below.)"""
    cin, h, w, cout, k = 512, 10, 7, 240, (3, 3)
    assert im2col_unfold_rows(cin, 3, 3, h, w, cout) == 8 and im2col_unfold_rows(cin, 3, 3, h, w, 64) == 1
    assert im2col_scratch_bytes(cin, 3, 3, h, w, cout) == 8 * 7 * 4608 + 4
    x, wt, bias, mult, shift, q = make_case(7, cin, h, w, cout, k, cin)
    win = window((h, w, cin), (h, w, cout), k, (1, 1), (1, 1, 1, 1), (1, 1))
    expected = reference_conv(x, wt, bias, q, (1, 1), (1, 1, 1, 1), (1, 1), 1, mult, shift)
    assert len(np.unique(expected)) > 10
    got = run_variant(isa, "ec_s8_conv2d_im2col", x, wt, bias, mult, shift, win, q)
    np.testing.assert_array_equal(got, expected)


def test_im2col_edge_positions_are_those_whose_window_leaves_the_input_across():
    """The latency model's edge positions (packing.im2col_edge_positions) are the output positions
    whose taps along the last axis are not all inside the input (the row tiles of ec_im2col.h run
    the others), counted here tap by tap; none where the kernel unfolds rows."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        k_w, stride, dil = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
        in_w, left, right = int(rng.integers(1, 20)), int(rng.integers(0, 4)), int(rng.integers(0, 4))
        out_w = (in_w + left + right - dil * (k_w - 1) - 1) // stride + 1
        if out_w < 1:
            continue
        out_h = int(rng.integers(1, 5))
        geo = LayerGeometry("Conv", 8, 16, 1, (1, k_w), (1, stride), (0, left, 0, right), (1, dil), (out_h, in_w),
                            (out_h, out_w), True)
        crossing = sum(any(not 0 <= ox * stride - left + k * dil < in_w for k in range(k_w)) for ox in range(out_w))
        assert im2col_edge_positions(geo) == crossing * out_h, (k_w, stride, dil, in_w, left, right)
    unfolded = LayerGeometry("Conv", 512, 16, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (7, 7), (7, 7), True)
    assert im2col_edge_positions(unfolded) == 0
    conv1d = LayerGeometry("Conv", 8, 16, 1, (3,), (1,), (1, 1), (1,), (10,), (10,), True)
    assert im2col_edge_positions(conv1d) == 2


SEGMENT_COUNTER = r"""
#include "ec_im2col.h"
static long passed;
static void count(const ec_gemm_t *g, const ec_gemm_src_t *src, int32_t m, int8_t *out, size_t out_stride)
{
    (void)src, (void)m, (void)out, (void)out_stride;
    passed += g->nseg;
}
long segments(const int8_t *in, const ec_window_t *win, int32_t tile_rows, int8_t *scratch)
{
    const ec_qparams_t q = {0, 0, -128, 127};
    ec_gemm_t g;
    passed = 0;
    ec_im2col_gemm_init(&g, NULL, NULL, NULL, NULL, NULL, win, &q);
    ec_im2col_gemm(&g, in, win, EC_IM2COL_KERNEL_ROWS, scratch, count, tile_rows, NULL);
    return passed;
}
"""


def test_arm_segment_terms_are_the_segments_the_im2col_tiles_pass_over(tmp_path):
    """The ARM latency model's ``segment`` term (arm_work.gemm_terms, per 16-channel block) is the
    number of segments the NEON kernel's tiles pass over: the walk of ec_im2col.h with kernel-row
    segments, run here with a tile function that counts them, over random in-place layers, and over
    unfolded ones of one row at a time and of blocks of rows (weights past 1 MiB)."""
    from edgeconv.kernels.arm_work import gemm_terms
    from edgeconv.resources import kernels_dir
    from tests.kernels.cbuild import Window

    source = tmp_path / "counter.c"
    source.write_text(SEGMENT_COUNTER)
    library = tmp_path / "counter.so"
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-shared", "-fPIC", f"-I{kernels_dir() / 'include'}", str(source), "-o",
                    str(library)], check=True)
    counter = ctypes.CDLL(str(library))
    counter.segments.restype = ctypes.c_long
    rng = np.random.default_rng(5)
    checked = 0
    while checked < 150:
        c_in = int(rng.choice([4, 8, 12, 16, 32]))
        k_h, k_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        stride, dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3))), (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        pads = tuple(int(p) for p in rng.integers(0, 3, 4))
        in_h, in_w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        out_h = (in_h + pads[0] + pads[2] - dil[0] * (k_h - 1) - 1) // stride[0] + 1
        out_w = (in_w + pads[1] + pads[3] - dil[1] * (k_w - 1) - 1) // stride[1] + 1
        if out_h < 1 or out_w < 1:
            continue
        tile = int(rng.choice([4, 8]))
        win = Window(in_h, in_w, c_in, out_h, out_w, 16, k_h, k_w, *stride, *pads, *dil, 1)
        x = np.zeros(in_h * in_w * c_in, np.int8)
        geo = LayerGeometry("Conv", c_in, 16, 1, (k_h, k_w), stride, pads, dil, (in_h, in_w), (out_h, out_w), True)
        terms = gemm_terms(geo, "ec_s8_conv2d_im2col", tile, 0)
        assert terms["segment"] == counter.segments(ptr(x), ctypes.byref(win), tile, None), (c_in, k_h, k_w, stride, dil, pads)
        checked += 1
    for c_out, rows in ((32, 1), (240, 8)):  # 512 channels, 3x3: unfolded; 240 of them carry 1.1 MB
        win = Window(10, 7, 512, 10, 7, c_out, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)
        geo = LayerGeometry("Conv", 512, c_out, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (10, 7), (10, 7), True)
        assert im2col_unfold_rows(512, 3, 3, 10, 7, c_out) == rows
        x = np.zeros(10 * 7 * 512, np.int8)
        scratch = np.zeros(im2col_scratch_bytes(512, 3, 3, 10, 7, c_out), np.int8)
        for tile in (4, 8):
            terms = gemm_terms(geo, "ec_s8_conv2d_im2col", tile, 0)
            assert terms["segment"] == counter.segments(ptr(x), ctypes.byref(win), tile, ptr(scratch)) * (c_out // 16)


def test_packed_layout_is_blocks_of_16_channels_by_groups_of_4():
    w = np.arange(17 * 6).reshape(17, 6).astype(np.int8)
    packed = pack_gemm_weights(w).reshape(2, 2, 16, 4)  # 2 blocks, K4 = 8: 2 groups
    assert packed[0, 0, 3].tolist() == w[3, 0:4].tolist()
    assert packed[0, 1, 3].tolist() == [w[3, 4], w[3, 5], 0, 0]
    assert packed[1, 0, 0].tolist() == w[16, 0:4].tolist() and not packed[1, :, 1:].any()


def random_gemm_case(rng):
    """A random pointwise or 3x3-ish layer with edge values: zero points at the int8 ends, odd
    channel counts, tight or open clamps, weights reaching -128."""
    cin = int(rng.choice([1, 2, 3, 4, 5, 7, 8, 12, 16, 17, 31, 32, 36, 64]))
    cout = int(rng.choice([1, 3, 15, 16, 17, 33, 48, 63, 64, 65, 80]))
    k = [(1, 1), (3, 3), (1, 3), (3, 1), (2, 2)][int(rng.integers(5))]
    stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    pads = tuple(int(p) for p in rng.integers(0, 2, size=4)) if k != (1, 1) else (0, 0, 0, 0)
    h, w = int(rng.integers(k[0], 9)), int(rng.integers(k[1], 11))
    zp_in = int(rng.choice([-128, 127, 0, -7, 33]))
    clamp = [(-128, 127), (0, 127), (-20, 30)][int(rng.integers(3))]
    return cin, h, w, cout, k, stride, pads, zp_in, clamp


@pytest.mark.parametrize("isa", isas_with_amx())
def test_gemm_kernels_on_random_shapes_and_edge_values(isa):
    rng = np.random.default_rng(2024)
    for trial in range(40):
        cin, h, w, cout, k, stride, pads, zp_in, clamp = random_gemm_case(rng)
        x = rng.integers(-128, 128, size=(1, cin, h, w)).astype(np.int8)
        wt = rng.integers(-128, 128, size=(cout, cin, *k)).astype(np.int8)
        bias = rng.integers(-100000, 100000, size=cout).astype(np.int32)
        mult, shift = multipliers(rng.uniform(1e-5, 3e-3, size=cout) * (8.0 if trial % 5 == 0 else 1.0))
        q = QParams(zp_in, int(rng.integers(-20, 20)), *clamp)
        oh = out_size(h, k[0], stride[0], pads[0], pads[2], 1)
        ow = out_size(w, k[1], stride[1], pads[1], pads[3], 1)
        win = window((h, w, cin), (oh, ow, cout), k, stride, pads, (1, 1))
        expected = reference_conv(x, wt, bias, q, stride, pads, (1, 1), 1, mult, shift)
        names = ["ec_s8_conv2d_im2col"] + (["ec_s8_conv2d_1x1"] if k == (1, 1) and stride == (1, 1) else [])
        for name in names:
            got = run_variant(isa, name, x, wt, bias, mult, shift, win, q)
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} trial {trial}")


# Shapes that steer the indirect im2col through each of its paths: runs along output rows (inner
# columns, read by kernel rows where C_in is a multiple of 4) and down the other columns (inner
# rows), lone corner pixels, pixels whose taps all lie in
# the padding, the input's last pixel read as a tap list when C_in is not a multiple of 4 (by a
# row run's or a column run's last pixel), runs split into register tiles of every size, and 1 to
# 5 blocks of 16 output channels. (C_in, H, W, C_out, k, stride, pads (t,l,b,r), dilation)
IM2COL_EDGES = [
    (3, 32, 32, 16, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),   # a first layer: rows of 30 inner pixels
    (3, 17, 16, 16, (3, 3), (2, 2), (0, 0, 1, 1), (1, 1)),   # 'same' stride 2: column run reads the last pixel
    (3, 9, 9, 17, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),     # no padding: row run reads the last pixel
    (5, 14, 15, 33, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),   # 3 blocks: tiles of 6, 4 and 3 pixels
    (7, 12, 13, 48, (3, 3), (1, 2), (2, 0, 1, 2), (2, 1)),   # dilated rows, asymmetric pads
    (16, 16, 16, 16, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),  # 14 inner pixels: tiles of 8 and 6
    (16, 15, 31, 32, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),  # 2 blocks, runs of 29
    (32, 10, 10, 80, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),  # 5 blocks: a pass of 4, then 1
    (13, 8, 8, 65, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1)),    # 1x1 stride 2: one segment per pixel
    (4, 2, 2, 20, (2, 2), (1, 1), (2, 2, 2, 2), (1, 1)),     # pixels with every tap in the padding
    (6, 11, 9, 24, (3, 1), (2, 1), (1, 0, 1, 0), (1, 1)),
    (2, 6, 20, 16, (1, 3), (1, 1), (0, 1, 0, 1), (1, 3)),
    (64, 1, 1, 10, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),    # a lone pixel
    # kernel-row segments (C_in a multiple of 4, x86): rows dilated down with whole kernel rows in
    # the padding and a narrow block, stride 2, the longest kernel row (9 taps of 256 channels)
    # in the padding
    (16, 9, 12, 8, (3, 3), (1, 1), (2, 1, 2, 1), (2, 1)),
    (4, 7, 9, 20, (3, 2), (2, 2), (1, 0, 1, 1), (1, 1)),
    (256, 3, 12, 16, (1, 9), (1, 1), (1, 4, 0, 4), (1, 1)),
    # small maps (at most 16 output pixels) as tap lists in register tiles (VNNI): 2 blocks on 4x4,
    # a narrow block, 3 channels whose last window reads the input's last pixel
    (32, 7, 7, 32, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    (8, 4, 4, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (3, 5, 5, 24, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),
]


@pytest.mark.parametrize("isa", isas_with_amx())
@pytest.mark.parametrize("case", IM2COL_EDGES, ids=lambda c: "c{}_{}x{}_o{}_k{}_s{}_p{}_d{}".format(
    c[0], c[1], c[2], c[3], "x".join(map(str, c[4])), "x".join(map(str, c[5])), "".join(map(str, c[6])),
    "x".join(map(str, c[7]))))
def test_im2col_runs_tiles_and_padding_paths(isa, case):
    cin, h, w, cout, k, stride, pads, dilation = case
    rng = np.random.default_rng(sum(case[:4]))
    oh = out_size(h, k[0], stride[0], pads[0], pads[2], dilation[0])
    ow = out_size(w, k[1], stride[1], pads[1], pads[3], dilation[1])
    win = window((h, w, cin), (oh, ow, cout), k, stride, pads, dilation)
    for zp_in, clamp in ((-128, (-128, 127)), (127, (0, 127)), (9, (-20, 30))):
        x = rng.integers(-128, 128, size=(1, cin, h, w)).astype(np.int8)
        wt = rng.integers(-128, 128, size=(cout, cin, *k)).astype(np.int8)
        bias = rng.integers(-20000, 20000, size=cout).astype(np.int32)
        mult, shift = multipliers(rng.uniform(2e-5, 4e-3, size=cout))
        q = QParams(zp_in, int(rng.integers(-10, 10)), *clamp)
        expected = reference_conv(x, wt, bias, q, stride, pads, dilation, 1, mult, shift)
        names = ["ec_s8_conv2d_im2col"] + (["ec_s8_conv2d_1x1"] if k == (1, 1) and stride == (1, 1) else [])
        for name in names:
            got = run_variant(isa, name, x, wt, bias, mult, shift, win, q)
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} zp {zp_in}")


def run_fully_connected(isa, x, w, bias, mult, shift, q):
    packed, wsum = gemm_arrays(w)
    out = np.zeros(w.shape[0], dtype=np.int8)
    kernel_library(isa).ec_s8_fully_connected(ptr(x), ptr(packed), ptr(bias), ptr(wsum), ptr(mult), ptr(shift),
                                              ctypes.c_int32(w.shape[1]), ctypes.c_int32(w.shape[0]), ctypes.byref(q),
                                              ptr(out))
    return out


@pytest.mark.parametrize("isa", isas_with_amx())
@pytest.mark.parametrize("n_in,n_out", [(1, 1), (3, 17), (13, 10), (64, 12), (127, 65), (640, 128), (128, 640)])
def test_fully_connected_matches_plain_integer_formula(isa, n_in, n_out):
    rng = np.random.default_rng(n_in * 1000 + n_out)
    for zp_in, clamp in ((-128, (-128, 127)), (127, (0, 127)), (5, (-50, 60))):
        x = rng.integers(-128, 128, size=n_in).astype(np.int8)
        w = rng.integers(-128, 128, size=(n_out, n_in)).astype(np.int8)
        bias = rng.integers(-50000, 50000, size=n_out).astype(np.int32)
        mult, shift = multipliers(rng.uniform(1e-4, 2e-2, size=n_out) / np.sqrt(n_in))
        q = QParams(zp_in, -3, *clamp)
        acc = (x.astype(np.int64) - zp_in) @ w.T.astype(np.int64) + bias
        expected = requant(acc[None], mult, shift, q.out_zp, *clamp)[0]
        np.testing.assert_array_equal(run_fully_connected(isa, np.ascontiguousarray(x), w, bias, mult, shift, q),
                                      expected, err_msg=f"zp {zp_in}")


@pytest.mark.parametrize("isa", isas_with_amx())
def test_gemm_kernels_at_the_accumulator_bound(isa):
    """|acc| near INT32_MAX: partial sums of the unsigned-byte kernels wrap, the result must not."""
    n_in = 65760  # 255 * 128 * 65760 + 2^20 is just below 2^31
    x = np.full(n_in, -128, dtype=np.int8)
    w = np.full((3, n_in), -128, dtype=np.int8)
    w[1] = 127
    w[2, ::2] = 127
    bias = np.array([-(2**20), 2**20, 12345], dtype=np.int32)
    q = QParams(127, 0, -128, 127)
    mult, shift = multipliers(np.full(3, 2.0**-24))
    acc = (x.astype(np.int64) - 127) @ w.T.astype(np.int64) + bias
    assert abs(acc).max() > 2**31 - 2**22
    expected = requant(acc[None], mult, shift, 0, -128, 127)[0]
    np.testing.assert_array_equal(run_fully_connected(isa, x, w, bias, mult, shift, q), expected)


@pytest.mark.parametrize("isa", [isa for isa in isas_with_avx512() if isa == "x86-avx512"])
def test_avx512_requantize16_matches_the_scalar_routine(isa):
    lib = kernel_library(isa)
    rng = np.random.default_rng(7)
    acc = np.concatenate([rng.integers(-2**31, 2**31, size=4000), [-2**31, 2**31 - 1, 0, -1, 1, 2**30, -2**30]])
    acc = np.resize(acc, (len(acc) + 15) // 16 * 16).astype(np.int32)
    mult = rng.integers(2**30, 2**31, size=acc.size).astype(np.int32)
    shift = rng.integers(-31, 8, size=acc.size).astype(np.int32)
    got = np.zeros_like(acc)
    for i in range(0, acc.size, 16):
        part = slice(i, i + 16)
        lib.ec_test_requantize16(ptr(acc[part].copy()), ptr(mult[part].copy()), ptr(shift[part].copy()),
                                 got[i:].ctypes.data_as(ctypes.c_void_p))
    expected = [lib.ec_test_requantize(int(a), int(m), int(s)) for a, m, s in zip(acc, mult, shift)]
    np.testing.assert_array_equal(got, np.array(expected, dtype=np.int32))


@pytest.mark.parametrize("isa", [isa for isa in isas_with_avx512() if isa.startswith("x86-avx512")])
def test_avx512_high_half_requantization_matches_the_scalar_routine(isa):
    """ec_x86_requantize16_high == ec_requantize + zp on int32 extremes and random accumulators for
    right shifts of 1 to 23 and zero points at both ends; its floored form agrees wherever either
    result exceeds zp; the form says it serves exactly when every lane shifts right by 1 to 23."""
    lib = kernel_library(isa)
    lib.ec_test_requantize16_high.restype = ctypes.c_int32
    rng = np.random.default_rng(8)
    acc = np.concatenate([rng.integers(-2**31, 2**31, size=2000), [-2**31, 2**31 - 1, 0, -1, 1, 2**30, -2**30]])
    acc = np.resize(acc, (len(acc) + 15) // 16 * 16).astype(np.int32)
    mult = rng.integers(2**30, 2**31, size=acc.size).astype(np.int32)
    shift = -rng.integers(1, 24, size=acc.size).astype(np.int32)
    shift[:16] = [-1, -23] * 8
    exact = np.array([lib.ec_test_requantize(int(a), int(m), int(s)) for a, m, s in zip(acc, mult, shift)])
    got = np.zeros_like(acc)
    for zp in (-128, -1, 0, 77, 127):
        for floored in (0, 1):
            for i in range(0, acc.size, 16):
                part = slice(i, i + 16)
                assert lib.ec_test_requantize16_high(ptr(acc[part].copy()), ptr(mult[part].copy()), ptr(shift[part].copy()),
                                                     zp, floored, got[i:].ctypes.data_as(ctypes.c_void_p)) == 1
            expected = exact + zp
            if floored:
                np.testing.assert_array_equal(np.maximum(got, zp), np.maximum(expected, zp), err_msg=f"zp {zp}")
            else:
                np.testing.assert_array_equal(got, expected, err_msg=f"zp {zp}")
    for outside in (0, 2, -24, -31):
        lane_shift = shift[:16].copy()
        lane_shift[7] = outside
        assert lib.ec_test_requantize16_high(ptr(acc[:16].copy()), ptr(mult[:16].copy()), ptr(lane_shift), 0, 0,
                                             got.ctypes.data_as(ctypes.c_void_p)) == 0
