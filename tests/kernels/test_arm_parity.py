"""NEON parity: every kernel with an x86 version has a NEON version (kernels_c/arm), and the NEON
kernels give the portable kernels' bytes under qemu over the edge cases of the x86 kernel tests.

One driver program (calldriver.py) runs the same calls twice: built from kernels_c/portable on this
machine, and built for each bundled ARM board (its compiler flags and kernel set, qemu with its
``-cpu``) from kernels_c/arm: rpi4 (Cortex-A72: plain NEON, SMLAL/SADALP), rpi5 (Cortex-A76: the
dot-product kernels) and rpi3 (32-bit ARMv7 NEON). The portable kernels themselves are checked
against the reference executor by the other kernel tests."""

from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from edgeconv.kernels.isa import target_kernel_set
from edgeconv.kernels.packing import im2col_scratch_bytes, im2col_weight_rows, pack_gemm_weights
from edgeconv.kernels.registry import BY_NAME
from edgeconv.quant import bilinear
from edgeconv.quant.fixedpoint import quantize_multiplier
from edgeconv.quant.integer_params import mean_multiplier
from edgeconv.targets import load_target
from tests.kernels import calldriver
from tests.kernels.calldriver import Calls, f32, i32, out, same
from tests.kernels.cbuild import AddParams, Broadcast, MulParams, QParams, kernel_names_in, window
from tests.kernels.intref import multipliers
from tests.kernels.test_binary_kernels import kernel_sources as binary_kernel_sources
from tests.kernels.test_conv_kernels import (DEPTHWISE, GENERAL, IM2COL_EDGES, ZERO_POINT_CLAMP_KERNELS, ZeroPointTieCase,
                                             general_variants, out_size, random_gemm_case)
from tests.kernels.test_depthwise_kernels import CASES as DW_CASES, kernels_for as dw_kernels_for
from tests.kernels.test_elementwise_kernels import (AFFINE_LENGTHS, CODE_PAIRS, POOLS, SHAPE_CASES, affine_add_params,
                                                    bcast, dense_broadcast)
from tests.kernels.test_resize_kernels import CASES as RESIZE_CASES

BOARDS = ("rpi4", "rpi5", "rpi3")


def test_every_x86_kernel_has_a_neon_version():
    missing = sorted(set(kernel_names_in("x86")) - set(kernel_names_in("arm")))
    assert not missing, f"kernels with an x86 version and no kernels_c/arm version: {missing}"


def test_every_integer_neon_kernel_is_exercised_under_qemu():
    """Each NEON int8 or binary kernel (those that must give the portable bytes) is called here or
    by the binary kernels' qemu driver."""
    binary = {Path(s).stem for s in binary_kernel_sources("arm")}
    integer = {name for name in kernel_names_in("arm") if name in BY_NAME and BY_NAME[name].dtype in ("s8", "b1")}
    untested = sorted(integer - parity_calls().names - binary)
    assert not untested, f"NEON kernels no qemu test calls: {untested}"


@pytest.mark.parametrize("board", ["rpi3", "rpi4", "rpi5", "jetson-orin-nano"])
def test_dot_product_kernels_are_compiled_where_the_board_has_them(board):
    """The board's compiler flags and kernel set define __ARM_FEATURE_DOTPROD (the SDOT GEMM of
    ec_arm_gemm.h) exactly where its TOML lists dotprod."""
    target = load_target(board)
    cc = f"{target.toolchain.triple}-gcc"
    if shutil.which(cc) is None:
        pytest.fail(f"{cc} is not installed")
    flags = (*target.toolchain.cflags, *target_kernel_set(target).flags)
    macros = subprocess.run([cc, *flags, "-dM", "-E", "-"], input="", capture_output=True, text=True, check=True).stdout
    assert ("__ARM_FEATURE_DOTPROD" in macros) == target.cpu.has("dotprod")


# ---- the calls ---------------------------------------------------------------------------------

def conv_call(calls: Calls, name, rng, x_hwc, wt, win, q, bias_range=20000, requant=None):
    """One convolution call with the weight layout and scratch the code generator gives ``name``;
    ``requant``: its (bias, mult, shift), else random ones."""
    cout = wt.shape[0]
    if requant is None:
        bias = rng.integers(-bias_range, bias_range, size=cout).astype(np.int32)
        mult, shift = multipliers(rng.uniform(2e-5, 4e-3, size=cout))
    else:
        bias, mult, shift = requant
    rows = np.ascontiguousarray(np.moveaxis(wt, 1, -1).reshape(cout, -1))
    size = win.out_h * win.out_w * cout
    if name == "ec_s8_conv2d_slidingwin":
        calls.add(name, x_hwc, rows, bias, mult, shift, win, q, out(size))
        return
    if name == "ec_s8_conv2d_im2col":
        rows = im2col_weight_rows(rows, win.in_c, win.k_h, win.k_w, win.dil_w)
    packed = np.ascontiguousarray(pack_gemm_weights(rows))
    wsum = rows.astype(np.int64).sum(axis=1).astype(np.int32)
    if name == "ec_s8_conv2d_im2col":
        scratch = im2col_scratch_bytes(win.in_c, win.k_h, win.k_w, win.out_h, win.out_w, cout)
        calls.add(name, x_hwc, packed, bias, wsum, mult, shift, win, q,
                  np.zeros(scratch, np.int8) if scratch else None, out(size))
    else:
        calls.add(name, x_hwc, packed, bias, wsum, mult, shift, win, q, out(size))


def conv_calls(calls: Calls) -> None:
    rng = np.random.default_rng(1)
    for cin, h, w, cout, k, stride, pads, dilation, groups in GENERAL + [(*c, c[0]) for c in DEPTHWISE]:
        oh, ow = (out_size(h, k[0], stride[0], pads[0], pads[2], dilation[0]),
                  out_size(w, k[1], stride[1], pads[1], pads[3], dilation[1]))
        win = window((h, w, cin), (oh, ow, cout), k, stride, pads, dilation, groups)
        x = rng.integers(-128, 128, size=(h, w, cin)).astype(np.int8)
        wt = rng.integers(-128, 128, size=(cout, cin // groups, *k)).astype(np.int8)
        names = general_variants((cin, h, w, cout, k, stride, pads, dilation, groups)) if groups == 1 else [
            "ec_s8_conv2d_slidingwin"]
        for name in names:
            conv_call(calls, name, rng, x, wt, win, QParams(7, -5, -100, 120))
    for case in IM2COL_EDGES:
        cin, h, w, cout, k, stride, pads, dilation = case
        oh, ow = (out_size(h, k[0], stride[0], pads[0], pads[2], dilation[0]),
                  out_size(w, k[1], stride[1], pads[1], pads[3], dilation[1]))
        win = window((h, w, cin), (oh, ow, cout), k, stride, pads, dilation)
        for zp_in, clamp in ((-128, (-128, 127)), (127, (0, 127)), (9, (-20, 30))):
            x = rng.integers(-128, 128, size=(h, w, cin)).astype(np.int8)
            wt = rng.integers(-128, 128, size=(cout, cin, *k)).astype(np.int8)
            for name in ["ec_s8_conv2d_im2col"] + (["ec_s8_conv2d_1x1"] if k == (1, 1) and stride == (1, 1) else []):
                conv_call(calls, name, rng, x, wt, win, QParams(zp_in, int(rng.integers(-10, 10)), *clamp))
    for _ in range(30):
        cin, h, w, cout, k, stride, pads, zp_in, clamp = random_gemm_case(rng)
        win = window((h, w, cin), (out_size(h, k[0], stride[0], pads[0], pads[2], 1),
                                   out_size(w, k[1], stride[1], pads[1], pads[3], 1), cout), k, stride, pads, (1, 1))
        x = rng.integers(-128, 128, size=(h, w, cin)).astype(np.int8)
        wt = rng.integers(-128, 128, size=(cout, cin, *k)).astype(np.int8)
        for name in ["ec_s8_conv2d_im2col", "ec_s8_conv2d_slidingwin"] + (
                ["ec_s8_conv2d_1x1"] if k == (1, 1) and stride == (1, 1) else []):
            conv_call(calls, name, rng, x, wt, win, QParams(zp_in, int(rng.integers(-20, 20)), *clamp), 100000)
    # the accumulator bound: x - zp = -255 against weights at +-127 over K = 2304
    x = np.full((3, 3, 256), -128, dtype=np.int8)
    wt = np.full((4, 256, 3, 3), 127, dtype=np.int8)
    wt[1], wt[2, ::2] = -127, -127
    win = window((3, 3, 256), (1, 1, 4), (3, 3), (1, 1), (0, 0, 0, 0), (1, 1))
    for name in ("ec_s8_conv2d_slidingwin", "ec_s8_conv2d_im2col"):
        conv_call(calls, name, rng, x, wt, win, QParams(127, 0, -128, 127))


def zero_point_clamp_calls(calls: Calls) -> None:
    """The ReLU clamp at the output zero point and one code below it, on accumulators that fall on
    rounding ties (ZeroPointTieCase): the NEON output stages requantize without the fix-up for
    negative values only at the zero point."""
    rng = np.random.default_rng(12)
    for name in ZERO_POINT_CLAMP_KERNELS:
        case = ZeroPointTieCase(name)
        x_hwc = np.ascontiguousarray(np.moveaxis(case.x[0], 0, -1))
        for q in case.clamps:
            if case.depthwise:
                calls.add(name, x_hwc, np.ascontiguousarray(np.moveaxis(case.wt[:, 0], 0, -1)), case.bias, case.mult,
                          case.shift, case.win, q, out(case.acc.size))
            else:
                conv_call(calls, name, rng, x_hwc, case.wt, case.win, q, requant=(case.bias, case.mult, case.shift))


def fully_connected_calls(calls: Calls) -> None:
    rng = np.random.default_rng(2)
    shapes = [(1, 1), (3, 17), (13, 10), (64, 12), (127, 65), (640, 128), (128, 640)]
    for n_in, n_out in shapes:
        for zp_in, clamp in ((-128, (-128, 127)), (127, (0, 127)), (5, (-50, 60))):
            x = rng.integers(-128, 128, size=n_in).astype(np.int8)
            w = rng.integers(-128, 128, size=(n_out, n_in)).astype(np.int8)
            bias = rng.integers(-50000, 50000, size=n_out).astype(np.int32)
            mult, shift = multipliers(rng.uniform(1e-4, 2e-2, size=n_out) / np.sqrt(n_in))
            calls.add("ec_s8_fully_connected", x, pack_gemm_weights(w), bias, w.astype(np.int64).sum(1).astype(np.int32),
                      mult, shift, i32(n_in), i32(n_out), QParams(zp_in, -3, *clamp), out(n_out))
    # |acc| just below 2^31: 255 * 128 * 65760 + 2^20
    n_in = 65760
    w = np.full((3, n_in), -128, dtype=np.int8)
    w[1], w[2, ::2] = 127, 127
    mult, shift = multipliers(np.full(3, 2.0**-24))
    calls.add("ec_s8_fully_connected", np.full(n_in, -128, np.int8), pack_gemm_weights(w),
              np.array([-(2**20), 2**20, 12345], np.int32), w.astype(np.int64).sum(1).astype(np.int32), mult, shift,
              i32(n_in), i32(3), QParams(127, 0, -128, 127), out(3))


def depthwise_calls(calls: Calls) -> None:
    for case in DW_CASES:
        c_in, m, h, w, k, stride, pads, dilation, zp_in, zp_out, clamp, has_bias, batch = case
        c_out = c_in * m
        rng = np.random.default_rng(sum(case[:4]) + sum(k))
        oh, ow = (out_size(h, k[0], stride[0], pads[0], pads[2], dilation[0]),
                  out_size(w, k[1], stride[1], pads[1], pads[3], dilation[1]))
        win = window((h, w, c_in), (oh, ow, c_out), k, stride, pads, dilation, c_in)
        w_hwo = rng.integers(-127, 128, size=(*k, c_out)).astype(np.int8)
        bias = rng.integers(-20000, 20000, size=c_out).astype(np.int32) if has_bias else None
        mult, shift = multipliers(rng.uniform(0.001, 0.02, size=c_out) * 0.4)
        lo, hi = (-128, 127) if clamp == (None, None) else (max(-128, zp_out), 127)
        for name in dw_kernels_for(case):
            for _ in range(batch):
                x = rng.integers(-128, 128, size=(h, w, c_in)).astype(np.int8)
                x[0, 0], x[-1, -1] = -128, 127
                calls.add(name, x, w_hwo, bias, mult, shift, win, QParams(zp_in, zp_out, lo, hi), out(oh * ow * c_out))
    # accumulator extremes: x - zp = -255, weights +-127, biases +-2^24, shifts from 2 left to 31 right
    c = 70
    w_hwo = np.where(np.arange(c) % 2 == 0, 127, -127).astype(np.int8) * np.ones((3, 3, c), np.int8)
    bias = np.where(np.arange(c) % 3 == 0, 2**24, -(2**24)).astype(np.int32)
    mult = np.where(np.arange(c) % 2 == 0, 2**31 - 1, 2**30).astype(np.int32)
    shift = np.linspace(-31, 2, c).astype(np.int32)
    win = window((5, 5, c), (5, 5, c), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), c)
    for name in ("ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic"):
        calls.add(name, np.full((5, 5, c), -128, np.int8), w_hwo, bias, mult, shift, win, QParams(127, 0, -128, 127),
                  out(25 * c))
    # the same with right shifts only (1 to 31), which the NEON 3x3 path requantizes without the left
    # shift and with a one-instruction fix-up (ec_neon_requantize_right)
    right_shift = np.linspace(-31, -1, c).astype(np.int32)
    for name in ("ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic"):
        calls.add(name, np.full((5, 5, c), -128, np.int8), w_hwo, bias, mult, right_shift, win,
                  QParams(127, 0, -128, 127), out(25 * c))
    # weights at -128 against inputs at -128: two such products overflow int16 (no tap pairs), every
    # other pixel's taps random
    w_min = np.full((3, 3, c), -128, np.int8)
    w_min[1, 1, ::3] = 127
    x = np.full((6, 7, c), -128, np.int8)
    x[::2] = np.random.default_rng(8).integers(-128, 128, size=x[::2].shape)
    win = window((6, 7, c), (6, 7, c), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), c)
    for name in ("ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic"):
        calls.add(name, x, w_min, bias, np.full(c, 2**30, np.int32), np.full(c, -17, np.int32), win,
                  QParams(-3, 2, -128, 127), out(42 * c))


def elementwise_calls(calls: Calls) -> None:
    rng = np.random.default_rng(3)
    for shapes, (zp_a, zp_b, zp_y, clamp) in SHAPE_CASES:
        out_shape = np.broadcast_shapes(shapes[0], shapes[1])
        size = int(np.prod(out_shape))
        bc = bcast(shapes[0], shapes[1], out_shape)
        a = rng.integers(-128, 128, size=shapes[0]).astype(np.int8)
        b = rng.integers(-128, 128, size=shapes[1]).astype(np.int8)
        to_c = lambda t: np.ascontiguousarray(np.moveaxis(t[0], 0, -1))  # noqa: E731
        lo, hi = (-128, 127) if clamp == (None, None) else (-100, 90)
        twice = 2 * max(0.031, 0.017)
        ma, sa = quantize_multiplier(0.031 / twice)
        mb, sb = quantize_multiplier(0.017 / twice)
        mo, so = quantize_multiplier(twice / ((1 << 20) * 0.05))
        add = AddParams(-zp_a, ma, sa, -zp_b, mb, sb, 20, mo, so, zp_y, lo, hi)
        mm, ms = quantize_multiplier(0.031 * 0.017 / 0.6)
        mul = MulParams(-zp_a, -zp_b, mm, ms, zp_y, lo, hi)
        for name, params in (("ec_s8_add", add), ("ec_s8_mul", mul)):
            calls.add(name, to_c(a), to_c(b), bc, params, out(size))
            if shapes[0] == out_shape:
                calls.add(name, to_c(a), to_c(b), bc, params, same(0))  # in place: the result overwrites a
    for left_shift, a_shift in [(5, -3), (7, -1), (23, -1), (20, 2), (20, -31)]:
        out_shift = max(-31, min(0, 1 - left_shift - max(a_shift, -1)))
        params = AddParams(-127, 1518500250, a_shift, 128, 1073741824, -1, left_shift, 1300000000, out_shift, -3, -120, 110)
        bc = Broadcast((ctypes.c_int32 * 3)(9, 5, 37), (ctypes.c_int32 * 3)(185, 37, 1), (ctypes.c_int32 * 3)(185, 37, 1))
        calls.add("ec_s8_add", rng.integers(-128, 128, 9 * 5 * 37).astype(np.int8),
                  rng.integers(-128, 128, 9 * 5 * 37).astype(np.int8), bc, params, out(9 * 5 * 37))
    affine_add_calls(calls, rng)


def affine_add_calls(calls: Calls, rng) -> None:
    """The ADD's affine step on all 65536 pairs of codes (and in place) and on lengths that leave
    every tail, for four random layers; the portable kernel computes the TFLite formula from the
    same parameters."""
    for params in affine_add_params(rng, 4):
        for n in AFFINE_LENGTHS:
            calls.add("ec_s8_add", CODE_PAIRS[0][:n].copy(), CODE_PAIRS[1][:n].copy(), dense_broadcast(n), params, out(n))
        calls.add("ec_s8_add", CODE_PAIRS[0].copy(), CODE_PAIRS[1].copy(), dense_broadcast(65536), params, same(0))


def awkward_floats(rng, shape) -> np.ndarray:
    """Normal values with NaNs, infinities, signed zeros and subnormals (which 32-bit NEON would
    flush) strewn among them: where a maximum's bits depend on how it compares."""
    x = rng.standard_normal(shape).astype(np.float32)
    flat = x.reshape(-1)
    for start, value in enumerate((np.nan, -0.0, 0.0, 1e-39, -1e-39, np.inf, -np.inf)):
        flat[start::11] = np.float32(value)
    return x


def pool_calls(calls: Calls) -> None:
    rng = np.random.default_rng(4)
    for k, stride, pads, ceil, cip in POOLS:
        for channels in (1, 5, 16, 70):
            x = rng.integers(-128, 128, size=(7, 9, channels)).astype(np.int8)
            oh = -(-(7 + pads[0] + pads[2] - k[0]) // stride[0]) + 1 if ceil else (7 + pads[0] + pads[2] - k[0]) // stride[0] + 1
            ow = -(-(9 + pads[1] + pads[3] - k[1]) // stride[1]) + 1 if ceil else (9 + pads[1] + pads[3] - k[1]) // stride[1] + 1
            win = window((7, 9, channels), (oh, ow, channels), k, stride, pads, (1, 1))
            size = oh * ow * channels
            calls.add("ec_s8_maxpool2d", x, win, i32(-120), i32(110), out(size))
            calls.add("ec_s8_avgpool2d", x, win, i32(int(cip)), i32(-4), i32(-120), i32(110), out(size))
            calls.add("ec_f32_maxpool2d", awkward_floats(rng, (7, 9, channels)), win, out(4 * size))
    dilated = window((7, 9, 6), (3, 5, 6), (3, 3), (1, 1), (0, 0, 0, 0), (2, 2))
    calls.add("ec_f32_maxpool2d", awkward_floats(rng, (7, 9, 6)), dilated, out(4 * 3 * 5 * 6))
    for hw, scales in [((5, 5), (0.05, 0.02)), ((1, 1), (0.1, 0.1)), ((8, 7), (0.02, 0.05)), ((16, 16), (0.3, 0.01)),
                       ((25, 5), (0.05, 0.05))]:
        for channels, zps in [(9, (5, -10)), (70, (-128, 127)), (17, (127, -128))]:
            x = rng.integers(-128, 128, size=(hw[0] * hw[1], channels)).astype(np.int8)
            mult, shift = mean_multiplier(scales[0] / scales[1], hw[0] * hw[1])
            calls.add("ec_s8_global_avgpool", x, i32(hw[0] * hw[1]), i32(channels), i32(mult), i32(shift),
                      QParams(zps[0], zps[1], -128, 127), out(channels))


def table_and_quantize_calls(calls: Calls) -> None:
    rng = np.random.default_rng(5)
    for size in (1, 15, 16, 17, 64, 65, 130, 1000):
        table = rng.integers(-128, 128, size=256).astype(np.int8)
        x = rng.integers(-128, 128, size=size).astype(np.int8)
        x[0], x[-1] = -128, 127
        calls.add("ec_s8_lut", x, table, i32(size), out(size))
        calls.add("ec_s8_lut", x, table, i32(size), same(0))
    specials = np.array([0.0, 0.5 * 0.07, -0.5 * 0.07, 1.5 * 0.07, -2.5 * 0.07, 1e6, -1e6, 1e30, -1e30, np.inf, -np.inf,
                         np.nan, 2.0**24, -(2.0**24)], dtype=np.float32)
    for size in (1, 7, 8, 15, 16, 17, 33, 784):
        halves = ((rng.integers(-140, 140, size) + 0.5) * 0.25).astype(np.float32)
        x = np.where(rng.random(size) < 0.2, specials[rng.integers(0, specials.size, size)], halves).astype(np.float32)
        for scale, zp, qrange in ((0.25, 0, (-128, 127)), (0.25, -5, (-128, 127)), (0.07, 7, (-128, -125)),
                                  (0.07, 0, (-1, 1))):
            calls.add("ec_s8_quantize", x, i32(size), f32(scale), i32(zp), i32(qrange[0]), i32(qrange[1]), out(size))


def binary_fc_calls(calls: Calls) -> None:
    rng = np.random.default_rng(6)
    for k_total, out_n in [(1, 1), (31, 3), (32, 4), (33, 5), (200, 10), (512, 17), (1000, 64), (70000, 4)]:
        words = -(-k_total // 32)
        used = np.array([(1 << min(32, k_total - 32 * i)) - 1 for i in range(words)], dtype=np.uint64).astype(np.uint32)
        x = rng.integers(0, 2**32, size=words, dtype=np.uint64).astype(np.uint32) & used
        w = rng.integers(0, 2**32, size=(out_n, words), dtype=np.uint64).astype(np.uint32) & used
        bias = rng.integers(-3000, 3000, size=out_n).astype(np.int32)
        steps = rng.integers(1, 9, size=out_n).astype(np.int32)
        mult, shift = multipliers(rng.uniform(0.3, 3.0, size=out_n) / np.sqrt(k_total) / 8)
        calls.add("ec_b1_fully_connected", x, w, bias, steps, mult, shift, i32(k_total), i32(words), i32(out_n),
                  QParams(0, 3, -128, 127), out(out_n))


def requantize_calls(calls: Calls) -> None:
    """Accumulators at the int32 ends and around the rounding points, multipliers at both ends of
    [2^30, 2^31), shifts from 30 left (wrapping) to 31 right."""
    rng = np.random.default_rng(7)
    edges = np.array([-2**31, -2**31 + 1, -2**30 - 1, -2**30, -2**30 + 1, -3, -2, -1, 0, 1, 2, 3, 2**30 - 1, 2**30,
                      2**31 - 2, 2**31 - 1], dtype=np.int64)
    mults = np.array([2**30, 2**30 + 1, 1518500250, 2**31 - 2, 2**31 - 1], dtype=np.int64)
    x, m, s = (a.ravel() for a in np.meshgrid(edges, mults, np.arange(-31, 31), indexing="ij"))
    x = np.concatenate([x, rng.integers(-2**31, 2**31, size=4096), rng.integers(-300, 300, size=2048)])
    m = np.concatenate([m, rng.integers(2**30, 2**31, size=6144)])
    s = np.concatenate([s, rng.integers(-31, 8, size=6144)])
    x, m, s = (np.ascontiguousarray(a, dtype=np.int32) for a in (x, m, s))
    calls.add("requantize", x, m, s, i32(x.size), out(4 * x.size))


def resize_calls(calls: Calls) -> None:
    """The bilinear kernels over test_resize_kernels.py's cases: int8 on random codes and on the
    extremes, float32 with subnormals (which 32-bit NEON would flush), whole and in two row tasks."""
    rng = np.random.default_rng(9)
    for c, h, w, oh, ow, corners in RESIZE_CASES:
        ry, rx = bilinear.int_taps(h, oh, corners), bilinear.int_taps(w, ow, corners)
        rows, cols = np.stack([ry.lo, ry.hi, ry.frac], 1), np.stack([rx.lo, rx.hi, rx.frac], 1)
        fy, fx = bilinear.float_taps(h, oh, corners), bilinear.float_taps(w, ow, corners)
        f_rows, f_cols = np.stack([fy.lo, fy.hi], 1), np.stack([fx.lo, fx.hi], 1)
        f_row_w, f_col_w = np.stack([fy.w_lo, fy.w_hi], 1), np.stack([fx.w_lo, fx.w_hi], 1)
        size = oh * ow * c
        for x in (rng.integers(-128, 128, size=(h, w, c)).astype(np.int8), np.full((h, w, c), -128, np.int8)):
            for begin, end in ((0, oh), (oh // 2, oh)):
                calls.add("ec_s8_resize_bilinear", x, i32(w), i32(c), i32(ow), rows, cols, i32(begin), i32(end),
                          out(size))
        xf = (rng.standard_normal((h, w, c)) * 3).astype(np.float32)
        xf.flat[::7] = np.float32(1e-39)
        for begin, end in ((0, oh), (oh // 2, oh)):
            calls.add("ec_f32_resize_bilinear", xf, i32(w), i32(c), i32(ow), f_rows, f_row_w, f_cols, f_col_w,
                      i32(begin), i32(end), out(4 * size))


@functools.lru_cache(maxsize=None)
def parity_calls() -> Calls:
    calls = Calls()
    for make in (conv_calls, zero_point_clamp_calls, fully_connected_calls, depthwise_calls, elementwise_calls,
                 pool_calls, table_and_quantize_calls, binary_fc_calls, requantize_calls, resize_calls):
        make(calls)
    return calls


@functools.lru_cache(maxsize=None)
def portable_results() -> list:
    binary = calldriver.build("cc", "portable", (), Path(tempfile.mkdtemp(prefix="ec_parity_portable_")) / "driver")
    return calldriver.run([str(binary)], parity_calls())


@pytest.mark.parametrize("board", BOARDS)
def test_neon_kernels_give_the_portable_bytes_under_qemu(board, tmp_path):
    target = load_target(board)
    cc, emulator = f"{target.toolchain.triple}-gcc", target.qemu.binary
    for tool in (cc, emulator):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed")
    kernels = target_kernel_set(target)
    assert kernels.isa == "arm"
    flags = ("-static", *[f for f in target.toolchain.cflags if f != "-O2"], *kernels.flags)
    binary = calldriver.build(cc, "arm", flags, tmp_path / "driver")
    got = calldriver.run([emulator, "-cpu", target.qemu.cpu, str(binary)], parity_calls())
    want = portable_results()
    calls = parity_calls().records
    for (name, _), g, w in zip(calls, got, want):
        assert g == w, f"{board}: {name} differs from the portable kernel"
    distinct = {name: set() for name, _ in calls}
    for (name, _), w in zip(calls, want):
        distinct[name].update(w[-1][:4096])
    assert all(len(v) > 2 for v in distinct.values()), "the cases should produce varied outputs"
