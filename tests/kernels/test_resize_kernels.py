"""The bilinear resize kernels (portable, and the x86 version at every x86 level this CPU runs)
called directly on tap tables from quant/bilinear.py, against the reference executor: int8 byte
for byte, float32 bit for bit. Channel counts cover the vector steps and their scalar tails;
the taps cover half-pixel edges (negative weights on one pixel), align_corners and downsampling.
The NEON versions are held to the portable bytes under qemu by test_arm_parity.py."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from edgeconv.ir import ops
from edgeconv.quant import bilinear
from edgeconv.reference.float_kernels import resize_bilinear as float_resize
from tests.kernels.cbuild import hwc_to_nchw, isas_with_avx512, kernel_library, nchw_to_hwc, ptr
from tests.kernels.onenode import q, reference

I32P, F32P = ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_float)


class S8Resize(ctypes.Structure):
    _fields_ = [("in_w", ctypes.c_int32), ("channels", ctypes.c_int32), ("out_w", ctypes.c_int32),
                ("rows", I32P), ("cols", I32P)]


class F32Resize(ctypes.Structure):
    _fields_ = [("in_w", ctypes.c_int32), ("channels", ctypes.c_int32), ("out_w", ctypes.c_int32),
                ("rows", I32P), ("row_w", F32P), ("cols", I32P), ("col_w", F32P)]


# (channels, in H, in W, out H, out W, align_corners)
CASES = [(1, 3, 4, 7, 9, False), (3, 5, 5, 10, 10, False), (16, 4, 4, 8, 8, False), (17, 4, 6, 8, 12, True),
         (32, 8, 8, 16, 16, False), (40, 7, 5, 3, 9, False), (70, 6, 6, 13, 11, True), (48, 16, 16, 8, 8, False),
         (16, 1, 1, 4, 4, False), (24, 5, 5, 1, 1, True), (33, 2, 3, 5, 4, False)]


def _case_id(case) -> str:
    c, h, w, oh, ow, corners = case
    return f"{c}x{h}x{w}->{oh}x{ow}{'-ac' if corners else ''}"


def _table(*columns) -> np.ndarray:
    return np.ascontiguousarray(np.stack(columns, 1))


def _call_s8(lib, x_hwc: np.ndarray, case, splits) -> np.ndarray:
    c, h, w, oh, ow, corners = case
    ry, rx = bilinear.int_taps(h, oh, corners), bilinear.int_taps(w, ow, corners)
    rows, cols = _table(ry.lo, ry.hi, ry.frac), _table(rx.lo, rx.hi, rx.frac)
    params = S8Resize(w, c, ow, rows.ctypes.data_as(I32P), cols.ctypes.data_as(I32P))
    y = np.full((oh, ow, c), 0x5A, np.int8)
    for begin, end in zip(splits, splits[1:]):
        lib.ec_s8_resize_bilinear(ptr(x_hwc), ctypes.byref(params), begin, end, ptr(y))
    return y


def _call_f32(lib, x_hwc: np.ndarray, case, splits) -> np.ndarray:
    c, h, w, oh, ow, corners = case
    ry, rx = bilinear.float_taps(h, oh, corners), bilinear.float_taps(w, ow, corners)
    rows, cols = _table(ry.lo, ry.hi), _table(rx.lo, rx.hi)
    row_w, col_w = _table(ry.w_lo, ry.w_hi), _table(rx.w_lo, rx.w_hi)
    params = F32Resize(w, c, ow, rows.ctypes.data_as(I32P), row_w.ctypes.data_as(F32P), cols.ctypes.data_as(I32P),
                       col_w.ctypes.data_as(F32P))
    y = np.full((oh, ow, c), np.nan, np.float32)
    for begin, end in zip(splits, splits[1:]):
        lib.ec_f32_resize_bilinear(ptr(x_hwc), ctypes.byref(params), begin, end, ptr(y))
    return y


def _int8_inputs(case, rng) -> list:
    """Random codes, the int8 extremes (the accumulator bound) and a checkerboard of them."""
    c, h, w = case[:3]
    board = np.where((np.arange(h)[:, None, None] + np.arange(w)[None, :, None] + np.arange(c)) % 2 == 0, 127, -128)
    return [rng.integers(-128, 128, size=(h, w, c)).astype(np.int8), np.full((h, w, c), -128, np.int8),
            np.full((h, w, c), 127, np.int8), board.astype(np.int8)]


def _splits(out_h: int) -> list:
    return [[0, out_h], [0, out_h // 2, out_h] if out_h > 1 else [0, out_h]]


@pytest.mark.parametrize("isa", isas_with_avx512())
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_int8_resize_kernel_equals_the_reference(isa, case):
    c, h, w, oh, ow, corners = case
    op, grid = ops.ResizeBilinear(size=(oh, ow), align_corners=corners), q(0.05, -3)
    lib = kernel_library(isa)
    for x in _int8_inputs(case, np.random.default_rng(sum(case[:5]))):
        want = nchw_to_hwc(reference(op, {"x": (hwc_to_nchw(x), grid)}, grid))
        for splits in _splits(oh):
            got = _call_s8(lib, x, case, splits)
            assert np.array_equal(got, want), (isa, _case_id(case), splits, np.argwhere(got != want)[:3].tolist())


@pytest.mark.parametrize("isa", isas_with_avx512())
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_float_resize_kernel_equals_the_reference_bit_for_bit(isa, case):
    c, h, w, oh, ow, corners = case
    op = ops.ResizeBilinear(size=(oh, ow), align_corners=corners)
    rng = np.random.default_rng(sum(case[:5]))
    x = rng.standard_normal((h, w, c)).astype(np.float32) * np.float32(3.0)
    x.flat[:: 7] = np.float32(1e-39)  # subnormals: scaled, they stay exact only without flush-to-zero
    want = nchw_to_hwc(float_resize(op, hwc_to_nchw(x)).astype(np.float32))
    lib = kernel_library(isa)
    for splits in _splits(oh):
        got = _call_f32(lib, x, case, splits)
        assert np.array_equal(got.view(np.int32), want.view(np.int32)), (isa, _case_id(case), splits)
