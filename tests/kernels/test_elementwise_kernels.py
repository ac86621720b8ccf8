"""int8 add/mul/pool/mean/softmax/quantize/lut/pad/layout kernels against the reference executor,
with their parameters derived independently here from the TFLite formulas.

The add, mul, pooling, mean, lookup-table and softmax kernels run in every build of
``test_depthwise_kernels.isas()`` (portable, AVX2, AVX-512), over channel counts on both sides of
the vector widths (8/16 int32 lanes, 32/64 bytes), zero points at the int8 ends and fused clamps."""

import ctypes
import numpy as np
import pytest

from edgeconv.ir import ops
from edgeconv.quant.activation_range import activation_range
from edgeconv.quant.fixedpoint import quantize_multiplier
from tests.kernels.cbuild import (AddParams, Broadcast, MulParams, QParams, hwc_to_nchw, isas_to_test, isas_with_avx512,
                                  kernel_library, nchw_to_hwc, ptr, window)
from tests.kernels.onenode import q, reference
from tests.kernels.test_depthwise_kernels import isas, library

ISA = isas()          # kernels with x86 versions: every build
BASE_ISA = isas_to_test()  # the others: portable and AVX2 builds


def bcast(a_shape, b_shape, out_shape):
    """ec_broadcast_t for NCHW shapes (batch 1) in channels-last order."""
    def hwc(shape):
        shape = (1,) * (4 - len(shape)) + tuple(shape)
        return [shape[2], shape[3], shape[1]]

    def strides(shape):
        dims = hwc(shape)
        out, step = [0, 0, 0], 1
        for i in (2, 1, 0):
            out[i] = step if dims[i] > 1 else 0
            step *= dims[i]
        return out

    return Broadcast((ctypes.c_int32 * 3)(*hwc(out_shape)), (ctypes.c_int32 * 3)(*strides(a_shape)),
                     (ctypes.c_int32 * 3)(*strides(b_shape)))


SHAPES = [((1, 5, 4, 3), (1, 5, 4, 3)), ((1, 6, 3, 3), (1, 6, 1, 1)), ((1, 1, 1, 1), (1, 7, 2, 5)),
          ((1, 4, 5, 1), (1, 4, 5, 6)), ((1, 19, 3, 2), (1, 19, 3, 2)), ((1, 16, 2, 3), (1, 16, 1, 1)),
          ((1, 70, 3, 2), (1, 70, 3, 2)), ((1, 33, 2, 2), (1, 1, 2, 2)), ((1, 64, 4, 4), (1, 64, 4, 4)),
          ((1, 17, 1, 1), (1, 17, 3, 3))]
# (zero point of a, of b, of the output, real clamp of the output)
ZERO_POINTS = [(-7, 12, 3, (-1.5, 4.0)), (-128, 127, -128, (None, None)), (127, -128, 127, (None, None)),
               (0, -128, 0, (0.0, None))]


# Every shape with one of the zero-point cases, in turn.
SHAPE_CASES = [(shapes, ZERO_POINTS[i % len(ZERO_POINTS)]) for i, shapes in enumerate(SHAPES)]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("shapes,zps", SHAPE_CASES, ids=lambda c: (
    f"{'x'.join(map(str, c[0]))}_{'x'.join(map(str, c[1]))}" if isinstance(c[0], tuple) else f"zp{c[0]}_{c[1]}_{c[2]}"))
@pytest.mark.parametrize("op_name", ["add", "mul"])
def test_add_mul_broadcast(isa, shapes, zps, op_name):
    rng = np.random.default_rng(len(shapes[0]) + shapes[1][1])
    a = rng.integers(-128, 128, size=shapes[0]).astype(np.int8)
    b = rng.integers(-128, 128, size=shapes[1]).astype(np.int8)
    zp_a, zp_b, zp_y, clamp = zps
    qa, qb = q(0.031, zp_a), q(0.017, zp_b)
    qy = q(0.05 if op_name == "add" else 0.6, zp_y)
    op = (ops.Add if op_name == "add" else ops.Mul)(clamp=clamp)
    expected = reference(op, {"a": (a, qa), "b": (b, qb)}, qy)
    out_shape = expected.shape
    lo, hi = activation_range(clamp, qy)
    if op_name == "add":
        twice = 2 * max(qa.scale[0], qb.scale[0])
        ma, sa = quantize_multiplier(qa.scale[0] / twice)
        mb, sb = quantize_multiplier(qb.scale[0] / twice)
        mo, so = quantize_multiplier(twice / ((1 << 20) * qy.scale[0]))
        params = AddParams(-zp_a, ma, sa, -zp_b, mb, sb, 20, mo, so, zp_y, lo, hi)
    else:
        mo, so = quantize_multiplier(qa.scale[0] * qb.scale[0] / qy.scale[0])
        params = MulParams(-zp_a, -zp_b, mo, so, zp_y, lo, hi)
    to_c = lambda x: nchw_to_hwc(np.broadcast_to(x, x.shape))  # noqa: E731
    kernel = getattr(library(isa), f"ec_s8_{op_name}")
    broadcast = bcast(a.shape, b.shape, out_shape)
    out = np.zeros(out_shape[2:] + out_shape[1:2], dtype=np.int8)
    kernel(ptr(to_c(a)), ptr(to_c(b)), ctypes.byref(broadcast), ctypes.byref(params), ptr(out))
    np.testing.assert_array_equal(hwc_to_nchw(out), expected)
    if a.shape == out_shape:  # in place: the output overwrites operand a
        in_place = to_c(a).copy()
        kernel(ptr(in_place), ptr(to_c(b)), ctypes.byref(broadcast), ctypes.byref(params), ptr(in_place))
        np.testing.assert_array_equal(hwc_to_nchw(in_place), expected)


POOLS = [  # kernel, stride, pads (t,l,b,r), ceil, count_include_pad
    ((2, 2), (2, 2), (0, 0, 0, 0), False, True),
    ((3, 3), (2, 2), (1, 1, 1, 1), False, True),
    ((3, 3), (2, 2), (1, 1, 1, 1), False, False),
    ((3, 2), (2, 1), (1, 0, 1, 1), True, True),
    ((2, 2), (2, 2), (0, 0, 0, 0), True, False),
    ((7, 9), (1, 1), (0, 0, 0, 0), False, False),  # the whole map (MLPerf KWS)
    ((3, 3), (1, 1), (2, 0, 1, 2), False, True),
    ((2, 2), (1, 1), (0, 0, 1, 1), False, False),  # 2x2 windows inside the map and at its padded edge
]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("pool", POOLS, ids=lambda p: f"k{p[0][0]}{p[0][1]}_s{p[1][0]}{p[1][1]}_p{''.join(map(str, p[2]))}_ceil{int(p[3])}_cip{int(p[4])}")
@pytest.mark.parametrize("channels", [1, 5, 12, 16, 27, 70])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools(isa, pool, channels, kind):
    k, stride, pads, ceil, cip = pool
    rng = np.random.default_rng(sum(k) + sum(pads) + channels)
    x = rng.integers(-128, 128, size=(1, channels, 7, 9)).astype(np.int8)
    qx = q(0.1, -4, qmin=-120, qmax=110)
    ir_pads = (pads[0], pads[1], pads[2], pads[3])
    if kind == "max":
        op = ops.MaxPool(kernel=k, stride=stride, pads=ir_pads, ceil_mode=ceil)
    else:
        op = ops.AvgPool(kernel=k, stride=stride, pads=ir_pads, ceil_mode=ceil, count_include_pad=cip)
    expected = reference(op, {"x": (x, qx)}, qx)
    oh, ow = expected.shape[2:]
    win = window((7, 9, channels), (oh, ow, channels), k, stride, pads, (1, 1))
    out = np.zeros((oh, ow, channels), dtype=np.int8)
    lib = library(isa)
    if kind == "max":
        lib.ec_s8_maxpool2d(ptr(nchw_to_hwc(x)), ctypes.byref(win), -120, 110, ptr(out))
    else:
        lib.ec_s8_avgpool2d(ptr(nchw_to_hwc(x)), ctypes.byref(win), int(cip), -4, -120, 110, ptr(out))
    np.testing.assert_array_equal(hwc_to_nchw(out), expected)


@pytest.mark.parametrize("isa", ISA)
def test_pool_tails_write_exactly_their_channels_at_every_count(isa):
    """A 1x1 max pool over one pixel of C channels clamps and copies them: every C from 1 to 70 runs
    the vector tails (the AVX2 build's assembled in 8-, 4-, 2- and 1-byte pieces), and the sentinel
    bytes after the pixel stay as they were."""
    lib = library(isa)
    for channels in range(1, 71):
        x = np.random.default_rng(channels).integers(-128, 128, size=channels).astype(np.int8)
        out = np.full(channels + 64, 0x55, dtype=np.int8)
        win = window((1, 1, channels), (1, 1, channels), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1))
        lib.ec_s8_maxpool2d(ptr(x), ctypes.byref(win), -120, 110, ptr(out))
        np.testing.assert_array_equal(out[:channels], np.clip(x, -120, 110), err_msg=f"{channels} channels")
        assert (out[channels:] == 0x55).all(), f"{channels} channels: bytes past the pixel written"


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("hw,scales", [((5, 5), (0.05, 0.02)), ((1, 1), (0.1, 0.1)), ((8, 7), (0.02, 0.05)), ((16, 16), (0.3, 0.01)),
                                       ((25, 5), (0.05, 0.05))])
@pytest.mark.parametrize("channels,zps", [(9, (5, -10)), (70, (-128, 127)), (17, (127, -128))])
def test_global_avgpool_is_tflite_mean(isa, hw, scales, channels, zps):
    from edgeconv.quant.integer_params import mean_multiplier
    rng = np.random.default_rng(hw[0] + channels)
    x = rng.integers(-128, 128, size=(1, channels, *hw)).astype(np.int8)
    qx, qy = q(scales[0], zps[0]), q(scales[1], zps[1])
    expected = reference(ops.GlobalAvgPool(keepdims=True), {"x": (x, qx)}, qy)
    mult, shift = mean_multiplier(qx.scale[0] / qy.scale[0], hw[0] * hw[1])
    out = np.zeros(channels, dtype=np.int8)
    library(isa).ec_s8_global_avgpool(ptr(nchw_to_hwc(x)), hw[0] * hw[1], channels, mult, shift,
                                      ctypes.byref(QParams(zps[0], zps[1], -128, 127)), ptr(out))
    np.testing.assert_array_equal(out, expected.reshape(-1))


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("depth,scale,beta", [(10, 0.1, 1.0), (3, 0.5, 1.0), (100, 0.02, 1.0), (37, 0.25, 0.5),
                                               (1, 0.1, 1.0), (256, 0.05, 2.0), (17, 1.0 / 16, 1.0)])
def test_softmax_is_tflite_fixed_point(isa, depth, scale, beta):
    from edgeconv.quant.integer_params import softmax_params
    rng = np.random.default_rng(depth)
    x = rng.integers(-128, 128, size=(6, depth)).astype(np.int8)
    x[0] = 127  # a row of equal values
    x[1, 0] = -128
    x[1, 1:] = 127
    expected = reference(ops.Softmax(axis=1, beta=beta), {"x": (x, q(scale, 0))}, q(1 / 256, -128))
    mult, left_shift, diff_min = softmax_params(scale, beta)
    out = np.zeros_like(x)
    library(isa).ec_s8_softmax(ptr(x), 6, depth, mult, left_shift, diff_min, ptr(out))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("isa", isas_with_avx512())
@pytest.mark.parametrize("qrange", [(-128, 127), (-128, -125), (-1, 1)])
def test_quantize_and_dequantize(isa, qrange):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-10, 10, 500), [0.0, 0.5 * 0.07, -0.5 * 0.07, 1.5 * 0.07, -2.5 * 0.07, 1e6,
                                                   -1e6]]).astype(np.float32)
    qy = q(0.07, -3 if qrange[0] == -128 else 0, *qrange)
    expected = reference(ops.Quantize(), {"x": (x.reshape(1, -1), None)}, qy)
    out = np.zeros(x.size, dtype=np.int8)
    lib = kernel_library(isa)
    lib.ec_s8_quantize(ptr(x), x.size, ctypes.c_float(np.float32(0.07)), int(qy.zero_point[0]), qrange[0], qrange[1], ptr(out))
    np.testing.assert_array_equal(out, expected.reshape(-1))
    # Values too large for any integer saturate (NaN goes to qmin): defined behaviour in C.
    extremes = np.array([1e30, -1e30, np.inf, -np.inf, np.nan], dtype=np.float32)
    sat = np.zeros(5, dtype=np.int8)
    lib.ec_s8_quantize(ptr(extremes), 5, ctypes.c_float(np.float32(0.07)), 0, qrange[0], qrange[1], ptr(sat))
    np.testing.assert_array_equal(sat, [qrange[1], qrange[0], qrange[1], qrange[0], qrange[0]])
    codes = np.arange(-128, 128, dtype=np.int8)
    back = np.zeros(256, dtype=np.float32)
    lib.ec_s8_dequantize(ptr(codes), 256, ctypes.c_double(qy.scale[0]), int(qy.zero_point[0]), ptr(back))
    expected_back = reference(ops.Dequantize(), {"x": (codes.reshape(1, -1), qy)}, None, out_dtype="float32")
    np.testing.assert_array_equal(back, expected_back.reshape(-1))


@pytest.mark.parametrize("isa", isas_with_avx512())
@pytest.mark.parametrize("size", [1, 7, 8, 15, 16, 17, 33, 784])
def test_quantize_rounds_exact_halves_away_from_zero_at_every_length(isa, size):
    """Quotients exactly k + 0.5 (both signs, scale a power of two so the division is exact),
    values around the int8 bounds and the float32 integer limit, in vector bodies and tails."""
    rng = np.random.default_rng(size)
    halves = (rng.integers(-140, 140, size) + 0.5) * 0.25
    specials = np.array([0.25 * 127.5, -0.25 * 128.5, -0.25 * 0.5, 0.25 * 0.5, 2.0**24, -(2.0**24), 0.24999999])
    x = np.where(rng.random(size) < 0.2, specials[rng.integers(0, specials.size, size)], halves).astype(np.float32)
    for zp in (0, -5, 7):
        qy = q(0.25, zp)
        expected = reference(ops.Quantize(), {"x": (x.reshape(1, -1), None)}, qy)
        out = np.zeros(size, dtype=np.int8)
        kernel_library(isa).ec_s8_quantize(ptr(x), size, ctypes.c_float(0.25), zp, -128, 127, ptr(out))
        np.testing.assert_array_equal(out, expected.reshape(-1), err_msg=f"zp {zp}")


# Every op on 1000 values; lengths around the 64-byte vectors with one op.
LUT_CASES = [(op, 1000) for op in (ops.Hardswish(), ops.Sigmoid(), ops.LeakyRelu(alpha=0.1), ops.Clip(lo=0.0, hi=6.0),
                                   ops.SiLU(), ops.Hardsigmoid(), ops.Gelu(), ops.Gelu(approximate="tanh"))] + [
    (ops.Hardswish(), n) for n in (1, 64, 65, 130)]


@pytest.mark.parametrize("isa", ISA)
@pytest.mark.parametrize("op,size", LUT_CASES, ids=lambda c: c.NAME if hasattr(c, "NAME") else str(c))
def test_lut_kernel_applies_the_reference_table_in_place(isa, op, size):
    from edgeconv.backends.c.activation import int8_table
    from tests.kernels.onenode import one_node
    out_q = q(1 / 256, -128) if op.NAME == "Sigmoid" else q(0.045, -20)
    codes = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    g, node = one_node(op, {"x": (codes, q(0.05, 6))}, (1, 256), out_q)
    table = np.ascontiguousarray(int8_table(g, node))
    x = np.random.default_rng(size).integers(-128, 128, size=size).astype(np.int8)
    x[0], x[-1] = -128, 127
    from edgeconv.reference.int_kernels import INT_KERNELS
    expected = INT_KERNELS[op.NAME](node, g, x.reshape(1, -1)).reshape(-1)
    buf = x.copy()
    library(isa).ec_s8_lut(ptr(buf), ptr(table), buf.size, ptr(buf))
    np.testing.assert_array_equal(buf, expected)


@pytest.mark.parametrize("isa", BASE_ISA)
def test_pad_and_layout_copies(isa):
    lib = kernel_library(isa)
    x = np.random.default_rng(3).integers(-128, 128, size=(1, 3, 4, 5)).astype(np.int8)
    pads = np.array([1, 2, 0, 3], dtype=np.int32)
    out = np.zeros((5, 10, 3), dtype=np.int8)
    lib.ec_s8_pad(ptr(nchw_to_hwc(x)), 4, 5, 3, ptr(pads), 9, ptr(out))
    expected = reference(ops.Pad(pads=(1, 2, 0, 3), value=0.9), {"x": (x, q(0.1, 0))}, q(0.1, 0))
    np.testing.assert_array_equal(hwc_to_nchw(out), expected)
    chw = np.zeros(60, dtype=np.int8)
    lib.ec_hwc_to_chw(ptr(nchw_to_hwc(x)), 20, 3, 1, ptr(chw))
    np.testing.assert_array_equal(chw, x.reshape(-1))
    hwc = np.zeros(60, dtype=np.int8)
    lib.ec_chw_to_hwc(ptr(chw), 20, 3, 1, ptr(hwc))
    np.testing.assert_array_equal(hwc, nchw_to_hwc(x).reshape(-1))
    a = np.arange(12, dtype=np.int8).reshape(3, 4)
    b = np.arange(100, 106, dtype=np.int8).reshape(3, 2)
    parts = (ctypes.c_void_p * 2)(a.ctypes.data, b.ctypes.data)
    inner = np.array([4, 2], dtype=np.int32)
    cat = np.zeros((3, 6), dtype=np.int8)
    lib.ec_concat(parts, ptr(inner), 2, 3, ptr(cat))
    np.testing.assert_array_equal(cat, np.concatenate([a, b], axis=1))


@pytest.mark.parametrize("isa", [i for i in ISA if i != "portable"])
@pytest.mark.parametrize("left_shift,a_shift", [(5, -3), (7, -1), (23, -1), (20, 2), (20, -31)])
def test_add_rescaling_outside_tflite_parameters_equals_portable(isa, left_shift, a_shift):
    """The x86 ADD takes a shortcut for left shifts 8..23 with right input shifts (TFLite: 20);
    the boundary and other parameters must give the portable kernel's bytes (ec_s8.h's formula)."""
    rng = np.random.default_rng(left_shift)
    a = rng.integers(-128, 128, size=(9, 5, 37)).astype(np.int8)
    b = rng.integers(-128, 128, size=(9, 5, 37)).astype(np.int8)
    out_shift = max(-31, min(0, 1 - left_shift - max(a_shift, -1)))  # outputs spread over the int8 range
    # zero points 127 and -128: |a + offset| <= 255, the bound of the formula (ec_s8.h)
    params = AddParams(-127, 1518500250, a_shift, 128, 1073741824, -1, left_shift, 1300000000, out_shift, -3, -120, 110)
    broadcast = Broadcast((ctypes.c_int32 * 3)(9, 5, 37), (ctypes.c_int32 * 3)(185, 37, 1), (ctypes.c_int32 * 3)(185, 37, 1))
    expected, got = np.zeros_like(a), np.zeros_like(a)
    kernel_library("portable").ec_s8_add(ptr(a), ptr(b), ctypes.byref(broadcast), ctypes.byref(params), ptr(expected))
    library(isa).ec_s8_add(ptr(a), ptr(b), ctypes.byref(broadcast), ctypes.byref(params), ptr(got))
    assert len(np.unique(expected)) > 20
    np.testing.assert_array_equal(got, expected)


# every pair of int8 codes, as two flat operands
CODE_PAIRS = tuple(x.ravel().copy() for x in np.meshgrid(np.arange(-128, 128, dtype=np.int8),
                                                        np.arange(-128, 128, dtype=np.int8), indexing="ij"))
AFFINE_LENGTHS = (65536, 31, 33, 70)  # every pair at once, and lengths that leave every tail


def affine_add_params(rng, trials: int) -> list:
    """ADD parameters with their affine step (backends/c/add_affine.py) for scales, zero points and
    clamps drawn at random, every third with a fused ReLU; the solver must find a step for each."""
    from edgeconv.backends.c.add_affine import affine_add
    from edgeconv.quant.integer_params import add_multipliers

    found = []
    for trial in range(trials):
        s_a, s_b, s_y = rng.uniform(0.005, 0.2, 3)
        zp_a, zp_b, zp_y = (int(z) for z in rng.integers(-128, 128, 3))
        lo, hi = (zp_y, 127) if trial % 3 == 0 else (-128, 127)
        m = add_multipliers(s_a, s_b, s_y)
        step = affine_add(m, zp_a, zp_b, zp_y, lo, hi)
        assert step is not None
        found.append(AddParams(-zp_a, m.a[0], m.a[1], -zp_b, m.b[0], m.b[1], m.left_shift, m.out[0], m.out[1], zp_y,
                               lo, hi, *step.fields().values()))
    return found


def dense_broadcast(n: int) -> Broadcast:
    return Broadcast((ctypes.c_int32 * 3)(1, 1, n), (ctypes.c_int32 * 3)(n, n, 1), (ctypes.c_int32 * 3)(n, n, 1))


@pytest.mark.parametrize("isa", [i for i in ISA if i != "portable"])
def test_add_affine_step_gives_the_tflite_codes_on_every_pair(isa):
    """The x86 ADD's affine step against the TFLite formula of the portable kernel, on all 65536
    pairs of codes at once (dense operands, in place too) and on lengths that leave every tail."""
    for trial, params in enumerate(affine_add_params(np.random.default_rng(11), 12)):
        portable = AddParams(*[getattr(params, name) for name, _ in AddParams._fields_[:12]])
        for n in AFFINE_LENGTHS:
            a, b = CODE_PAIRS[0][:n].copy(), CODE_PAIRS[1][:n].copy()
            broadcast = dense_broadcast(n)
            expected, got = np.zeros_like(a), np.zeros_like(a)
            kernel_library("portable").ec_s8_add(ptr(a), ptr(b), ctypes.byref(broadcast), ctypes.byref(portable),
                                                 ptr(expected))
            library(isa).ec_s8_add(ptr(a), ptr(b), ctypes.byref(broadcast), ctypes.byref(params), ptr(got))
            np.testing.assert_array_equal(got, expected, err_msg=f"trial {trial} n {n}")
            library(isa).ec_s8_add(ptr(a), ptr(b), ctypes.byref(broadcast), ctypes.byref(params), ptr(a))
            np.testing.assert_array_equal(a, expected, err_msg=f"trial {trial} n {n} in place")
