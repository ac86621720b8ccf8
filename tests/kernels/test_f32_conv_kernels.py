"""The fast float32 convolutions (1x1 GEMM, im2col GEMM, depthwise) give the direct
convolution's bits: portable and x86 builds (AVX2, AVX-512) here, the NEON builds under qemu
(rpi4: AArch64 lanes; rpi3: 32-bit ARM, scalar lanes). The direct kernel is checked against the
reference executor by the float e2e tests (tests/e2e/test_float_exact.py)."""

from __future__ import annotations

import ctypes
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from edgeconv.kernels.geometry import LayerGeometry
from edgeconv.kernels.isa import target_kernel_set
from edgeconv.kernels.registry import BY_NAME
from edgeconv.targets import load_target
from tests.kernels import calldriver
from tests.kernels.calldriver import Calls, f32, out
from tests.kernels.cbuild import isas_with_avx512, kernel_library, ptr, window

NO_BOUND = 3.0e38

# name: (kernel, input HWC, C_out, kernel HW, stride, pads (top, left, bottom, right), dilation, clamp, bias)
CASES = {
    "1x1_tail_positions_and_channels": ("ec_f32_conv2d_1x1", (5, 7, 19), 37, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), (0.0, 6.0), True),
    "1x1_one_position_no_bias": ("ec_f32_conv2d_1x1", (1, 1, 64), 16, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), (-NO_BOUND, NO_BOUND), False),
    "1x1_wide": ("ec_f32_conv2d_1x1", (6, 6, 96), 24, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), (-NO_BOUND, NO_BOUND), True),
    "im2col_stem_s2": ("ec_f32_conv2d_im2col", (13, 11, 3), 32, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), (0.0, 6.0), True),
    "im2col_asymmetric_dilated": ("ec_f32_conv2d_im2col", (9, 10, 5), 7, (3, 2), (1, 2), (2, 0, 1, 1), (2, 1), (-1.0, 1.0), True),
    "im2col_1d": ("ec_f32_conv2d_im2col", (1, 17, 6), 20, (1, 5), (1, 1), (0, 2, 0, 2), (1, 1), (-NO_BOUND, NO_BOUND), False),
    "depthwise_3x3_s2_tail": ("ec_f32_dwconv2d", (9, 8, 21), 21, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), (0.0, 6.0), True),
    "depthwise_5x5_dilated": ("ec_f32_dwconv2d", (11, 9, 40), 40, (5, 5), (1, 1), (4, 4, 4, 4), (2, 2), (-NO_BOUND, NO_BOUND), False),
}


def _out_size(size: int, k: int, stride: int, before: int, after: int, dilation: int) -> int:
    return (size + before + after - dilation * (k - 1) - 1) // stride + 1


def _case(name: str, seed: int = 0):
    kernel, (h, w, c), c_out, (kh, kw), stride, pads, dilation, clamp, has_bias = CASES[name]
    depthwise = kernel == "ec_f32_dwconv2d"
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(h, w, c)).astype(np.float32)
    x.reshape(-1)[::7] = 0.0
    x.reshape(-1)[1::11] *= np.float32(1e-39)  # subnormal inputs and products
    weights = rng.normal(size=(c_out, 1 if depthwise else c, kh, kw)).astype(np.float32)
    bias = rng.normal(size=c_out).astype(np.float32) if has_bias else None
    out_hw = (_out_size(h, kh, stride[0], pads[0], pads[2], dilation[0]),
              _out_size(w, kw, stride[1], pads[1], pads[3], dilation[1]))
    win = window((h, w, c), (*out_hw, c_out), (kh, kw), stride, pads, dilation, c if depthwise else 1)
    geo = LayerGeometry("Conv", c, c_out, c if depthwise else 1, (kh, kw), stride, pads, dilation, (h, w), out_hw, has_bias)
    packed = {name: np.ascontiguousarray(BY_NAME[name].pack(weights, geo, None)[1])
              for name in (kernel, "ec_f32_conv2d_direct")}
    return kernel, x, packed, bias, win, clamp, out_hw[0] * out_hw[1] * c_out


def _run_library(lib, name: str, x, w, bias, win, clamp, size: int) -> np.ndarray:
    y = np.zeros(size, dtype=np.float32)
    getattr(lib, name)(ptr(x), ptr(w), None if bias is None else ptr(bias), ctypes.byref(win),
                       ctypes.c_float(clamp[0]), ctypes.c_float(clamp[1]), ptr(y))
    return y


@pytest.mark.parametrize("isa", isas_with_avx512())
@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_f32_kernel_gives_the_direct_kernels_bits(isa, case):
    kernel, x, packed, bias, win, clamp, size = _case(case)
    assert BY_NAME[kernel].fits(_geometry_of(case))
    want = _run_library(kernel_library("portable"), "ec_f32_conv2d_direct", x, packed["ec_f32_conv2d_direct"],
                        bias, win, clamp, size)
    got = _run_library(kernel_library(isa), kernel, x, packed[kernel], bias, win, clamp, size)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def _geometry_of(case: str) -> LayerGeometry:
    kernel, (h, w, c), c_out, k, stride, pads, dilation, _, has_bias = CASES[case]
    groups = c if kernel == "ec_f32_dwconv2d" else 1
    return LayerGeometry("Conv", c, c_out, groups, k, stride, pads, dilation, (h, w), (1, 1), has_bias)


@functools.lru_cache(maxsize=None)
def _calls() -> Calls:
    calls = Calls()
    for case in sorted(CASES):
        kernel, x, packed, bias, win, clamp, size = _case(case, seed=1)
        for name in (kernel, "ec_f32_conv2d_direct"):
            calls.add(name, x, packed[name], bias, win, f32(clamp[0]), f32(clamp[1]), out(4 * size))
    return calls


@pytest.mark.parametrize("board", ("rpi4", "rpi3"))
def test_neon_f32_kernels_give_the_direct_kernels_bits_under_qemu(board, tmp_path):
    target = load_target(board)
    cc, emulator = f"{target.toolchain.triple}-gcc", target.qemu.binary
    for tool in (cc, emulator):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed")
    flags = ("-static", *[f for f in target.toolchain.cflags if f != "-O2"], *target_kernel_set(target).flags)
    binary = calldriver.build(cc, "arm", flags, tmp_path / "driver")
    got = calldriver.run([emulator, "-cpu", target.qemu.cpu, str(binary)], _calls())
    portable = calldriver.build("cc", "portable", (), Path(tempfile.mkdtemp(prefix="ec_f32_portable_")) / "driver")
    want = calldriver.run([str(portable)], _calls())
    for i in range(0, len(want), 2):  # each fast kernel's call, then the direct kernel's
        assert got[i] == want[i + 1] == want[i], _calls().records[i][0]


@pytest.mark.parametrize("in_n, out_n, clamp", [(37, 21, (None, None)), (1280, 40, (0.0, 6.0)), (5, 7, (-0.5, 0.5))])
def test_f32_fully_connected_gives_the_reference_bits(in_n, out_n, clamp):
    """Eight outputs summed side by side, each in the reference's order (and a tail of outputs)."""
    from edgeconv.ir import ops
    from edgeconv.reference.float_kernels import linear

    rng = np.random.default_rng(in_n)
    x = rng.normal(size=(1, in_n)).astype(np.float32)
    w = rng.normal(size=(out_n, in_n)).astype(np.float32)
    b = rng.normal(size=out_n).astype(np.float32)
    y = np.zeros(out_n, dtype=np.float32)
    lo, hi = (-NO_BOUND if clamp[0] is None else clamp[0]), (NO_BOUND if clamp[1] is None else clamp[1])
    kernel_library("portable").ec_f32_fully_connected(ptr(x), ptr(w), ptr(b), ctypes.c_int32(in_n), ctypes.c_int32(out_n),
                                                      ctypes.c_float(lo), ctypes.c_float(hi), ptr(y))
    want = linear(ops.Linear(clamp=clamp), x, w, b)[0]
    np.testing.assert_array_equal(y.view(np.uint32), want.astype(np.float32).view(np.uint32))
