"""The portable transposed-convolution kernels against the reference executor's definition
(``reference.window.transpose_conv_accumulate``), on shapes the encoder-decoder tests do not reach:
a start padding beyond the kernel, unequal strides with output padding, outputs that no input
reaches (they hold the bias), stride 1, groups and depthwise with a channel multiplier. int8 byte for byte, float32 bit for bit."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from edgeconv.ir import ops
from edgeconv.quant.fixedpoint import quantize_multipliers
from edgeconv.quant.integer_params import Requantization
from edgeconv.reference.window import transpose_conv_accumulate
from tests.kernels.cbuild import QParams, kernel_library, ptr, window

# name: (input HWC, C_out, kernel HW, stride, pads (top, left, bottom, right), output padding, bias,
# groups)
CASES = {
    "crop_beyond_kernel_unequal_strides": ((5, 4, 3), 7, (3, 2), (2, 3), (3, 1, 2, 0), (1, 2), True, 1),
    "stride1_same": ((6, 6, 9), 4, (3, 3), (1, 1), (1, 1, 1, 1), (0, 0), False, 1),
    "k4_s2_p1_three_groups": ((4, 5, 12), 9, (4, 4), (2, 2), (1, 1, 1, 1), (0, 0), True, 3),
    "depthwise_multiplier_2": ((5, 3, 6), 12, (3, 3), (2, 2), (1, 0, 1, 2), (1, 0), True, 6),
    "unreached_outputs_hold_the_bias": ((3, 3, 5), 6, (1, 1), (3, 3), (0, 0, 0, 0), (2, 2), True, 1),
}


def _case(name: str, seed: int = 0):
    (h, w, c), c_out, k, stride, pads, output_padding, has_bias, groups = CASES[name]
    op = ops.ConvTranspose(stride=stride, pads=pads, output_padding=output_padding, groups=groups)
    out_hw = op.infer([(1, c, h, w), (c_out, c // groups, *k)])[2:]
    win = window((h, w, c), (*out_hw, c_out), k, stride, pads, (1, 1), groups)
    return op, np.random.default_rng(seed), (h, w, c), c_out, k, out_hw, has_bias, win


def _nchw(x_hwc: np.ndarray) -> np.ndarray:
    return np.moveaxis(x_hwc, -1, 0)[None]


def _ohwi(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("case", sorted(CASES))
def test_s8_conv_transpose_equals_the_reference(case):
    op, rng, (h, w, c), c_out, k, out_hw, has_bias, win = _case(case)
    x = rng.integers(-128, 128, size=(h, w, c), dtype=np.int8)
    weights = rng.integers(-127, 128, size=(c_out, c // op.groups, *k), dtype=np.int8)
    bias = rng.integers(-3000, 3000, size=c_out).astype(np.int32) if has_bias else np.zeros(c_out, np.int32)
    zp_in, zp_out = -9, 4
    q, shift = quantize_multipliers(rng.uniform(0.002, 0.02, size=c_out))
    acc = transpose_conv_accumulate(_nchw(x).astype(np.int64) - zp_in, weights.astype(np.int64), op)
    want = Requantization(q.astype(np.int64), shift.astype(np.int64), zp_out, -128, 127).apply(
        acc + bias.astype(np.int64).reshape(1, -1, 1, 1))
    mult, shift32 = q.astype(np.int32), shift.astype(np.int32)
    got = np.zeros((*out_hw, c_out), dtype=np.int8)
    qp = QParams(zp_in, zp_out, -128, 127)
    kernel_library("portable").ec_s8_conv_transpose2d(
        ptr(x), ptr(_ohwi(weights)), ptr(bias), ptr(mult), ptr(shift32), ctypes.byref(win), ctypes.byref(qp), ptr(got))
    np.testing.assert_array_equal(_nchw(got), want)
    if case == "unreached_outputs_hold_the_bias":
        assert np.array_equal(want[0, :, 1, 1], Requantization(q.astype(np.int64), shift.astype(np.int64), zp_out, -128, 127)
                              .apply(bias.astype(np.int64).reshape(1, -1), channel_axis=1)[0])


@pytest.mark.parametrize("case", sorted(CASES))
def test_f32_conv_transpose_equals_the_reference(case):
    op, rng, (h, w, c), c_out, k, out_hw, has_bias, win = _case(case, seed=1)
    x = rng.normal(size=(h, w, c)).astype(np.float32)
    weights = rng.normal(size=(c_out, c // op.groups, *k)).astype(np.float32)
    bias = rng.normal(size=c_out).astype(np.float32) if has_bias else None
    want = transpose_conv_accumulate(_nchw(x), weights, op)
    if bias is not None:
        want = want + bias.reshape(1, -1, 1, 1)
    got = np.zeros((*out_hw, c_out), dtype=np.float32)
    kernel_library("portable").ec_f32_conv_transpose2d(
        ptr(x), ptr(_ohwi(weights)), None if bias is None else ptr(bias), ctypes.byref(win),
        ctypes.c_float(-3.0e38), ctypes.c_float(3.0e38), ptr(got))
    np.testing.assert_array_equal(_nchw(got).view(np.uint32), want.view(np.uint32))
