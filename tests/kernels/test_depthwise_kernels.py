"""int8 depthwise kernels (ec_s8_dwconv2d_3x3, ec_s8_dwconv2d_generic) against the reference
executor, for the portable build, the AVX2 build and, on CPUs that have them, the AVX-512 VNNI
build with and without VBMI; and the vector requantization of ec_x86_dw.h against the scalar
ec_requantize.

Shapes cover channel counts on both sides of the vector blocks (16 for AVX2, 64 for AVX-512),
strides 1 and 2, asymmetric padding, dilation, kernels larger than one prepared weight chunk,
channel multipliers above 1, zero points at the int8 ends, fused clamps, a missing bias, inputs
larger than one row band of the x86 3x3 kernel and a batch of several samples (the kernel runs once per sample, as in the generated code)."""

from __future__ import annotations

import ctypes
import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
from edgeconv.reference.int_kernels import INT_KERNELS
from edgeconv.quant.integer_params import weighted_requantization
from edgeconv.kernels.isa import host_cpu_flags
from edgeconv.kernels.registry import sources_for
from edgeconv.resources import kernels_dir
from tests.kernels.cbuild import (ISA_FLAGS, STRICT, QParams, hwc_to_nchw, isas_with_avx512, kernel_library, nchw_to_hwc,
                                  ptr, window)

VBMI_FLAGS = ("-mavx512vbmi",)
OWN_KERNELS = ("ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic", "ec_s8_add", "ec_s8_mul", "ec_s8_avgpool2d",
               "ec_s8_global_avgpool", "ec_s8_maxpool2d", "ec_s8_lut", "ec_s8_softmax")


def compile_library(tag: str, sources: list, flags: tuple) -> ctypes.CDLL:
    build = Path(tempfile.mkdtemp(prefix=f"ec_{tag}_"))
    out = build / "lib.so"
    cmd = ["cc", *STRICT, "-O2", *flags, "-shared", "-fPIC", f"-I{kernels_dir() / 'include'}", *map(str, sources),
           "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, f"{tag} does not compile with {flags}:\n{result.stderr}"
    return ctypes.CDLL(str(out))


@functools.lru_cache(maxsize=None)
def vbmi_library() -> ctypes.CDLL:
    """This file's kernels built for AVX-512 with VBMI too (the byte-permute table lookups)."""
    return compile_library("kernels_avx512_vbmi", sources_for(OWN_KERNELS, "x86"), (*ISA_FLAGS["x86-avx512"], *VBMI_FLAGS))


def isas() -> list:
    """portable; x86 (AVX2) where the CPU has it; x86-avx512 (VNNI) and x86-avx512-vbmi where it
    has those."""
    with_vbmi = "x86-avx512" in isas_with_avx512() and "avx512vbmi" in host_cpu_flags()
    return isas_with_avx512() + (["x86-avx512-vbmi"] if with_vbmi else [])


def library(isa: str) -> ctypes.CDLL:
    return vbmi_library() if isa == "x86-avx512-vbmi" else kernel_library(isa)


def executor_depthwise(x, wt, bias, stride, pads, dilation, zp_in, zp_out, clamp, seed):
    """The reference executor's depthwise Conv on a one-node graph; returns its output and the
    requantization (multipliers, shifts, clamp) it derived from the scales."""
    c_in, c_out = x.shape[1], wt.shape[0]
    s_w = np.random.default_rng(seed).uniform(0.001, 0.02, size=c_out)
    g = Graph()
    g.add_tensor(Tensor("x", x.shape, "int8", quant=QuantParams(0.02, zp_in)))
    g.add_tensor(Tensor("w", wt.shape, "int8", quant=QuantParams(s_w, np.zeros(c_out), axis=0), data=wt))
    inputs = ["x", "w"]
    if bias is not None:
        g.add_tensor(Tensor("b", (c_out,), "int32", quant=QuantParams(0.02 * s_w, np.zeros(c_out), axis=0), data=bias))
        inputs.append("b")
    op = ops.Conv(stride=stride, pads=pads, dilation=dilation, groups=c_in, clamp=clamp)
    shape = op.infer([x.shape, wt.shape] + ([(c_out,)] if bias is not None else []))
    g.add_tensor(Tensor("y", shape, "int8", quant=QuantParams(0.05, zp_out)))
    node = Node("dw", op, inputs, "y", precision="int8")
    g.add_node(node)
    expected = INT_KERNELS["Conv"](node, g, x, wt, *([bias] if bias is not None else []))
    return expected, weighted_requantization(node, g)


# (C_in, multiplier, H, W, k, stride, pads (t, l, b, r), dilation, zp_in, zp_out, clamp, bias, batch)
CASES = [
    (64, 1, 25, 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), -128, -128, (0.0, None), True, 2),  # KWS block
    (1, 1, 6, 7, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 5, -3, (None, None), True, 1),
    (3, 1, 9, 8, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 127, 127, (None, None), True, 3),
    (13, 1, 9, 8, (3, 3), (2, 2), (0, 0, 1, 1), (1, 1), -7, 11, (0.0, 6.0), True, 1),
    (17, 1, 7, 6, (3, 3), (1, 2), (0, 1, 2, 1), (1, 1), -128, 127, (None, None), False, 2),
    (31, 1, 5, 9, (3, 3), (2, 1), (1, 0, 1, 2), (1, 1), 127, -128, (-1.0, 1.5), True, 1),
    (33, 1, 4, 4, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 0, 0, (None, None), True, 1),
    (65, 1, 6, 5, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 3, -9, (0.0, None), True, 2),
    (130, 1, 5, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), -100, 40, (None, None), True, 1),
    (16, 1, 8, 8, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 9, 2, (None, None), True, 1),
    (20, 1, 9, 9, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1), -128, 1, (None, None), True, 1),
    (9, 1, 10, 9, (7, 7), (1, 1), (3, 3, 3, 3), (1, 1), 60, -60, (None, None), True, 1),
    (24, 1, 6, 7, (1, 3), (1, 2), (0, 1, 0, 1), (1, 1), -1, 0, (0.0, None), True, 1),
    (6, 2, 9, 9, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1), 4, -2, (None, None), True, 1),
    (5, 3, 6, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), -128, 127, (None, None), False, 2),
    # inputs over the 128 KiB row band of the x86 3x3 kernel: two bands, the second a short one
    (40, 1, 70, 48, (3, 3), (2, 2), (0, 0, 1, 1), (1, 1), 3, -5, (0.0, None), True, 1),
    (48, 1, 64, 44, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), -20, 7, (None, None), True, 1),
]


def case_id(c):
    return "c{}_m{}_{}x{}_k{}_s{}_p{}_d{}_zp{}_{}{}_n{}".format(
        c[0], c[1], c[2], c[3], "x".join(map(str, c[4])), "x".join(map(str, c[5])), "".join(map(str, c[6])),
        c[7][0], c[8], c[9], "" if c[11] else "_nobias", c[12])


def kernels_for(case) -> list:
    c_in, m, _, _, k, _, _, dilation = case[:8]
    return ["ec_s8_dwconv2d_generic"] + (["ec_s8_dwconv2d_3x3"] if k == (3, 3) and m == 1 and dilation == (1, 1) else [])


@pytest.mark.parametrize("isa", isas())
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_depthwise_matches_reference_executor(isa, case):
    c_in, m, h, w, k, stride, pads, dilation, zp_in, zp_out, clamp, has_bias, batch = case
    c_out = c_in * m
    rng = np.random.default_rng(sum(case[:4]) + sum(k))
    x = rng.integers(-128, 128, size=(batch, c_in, h, w)).astype(np.int8)
    x[0, :, 0, 0] = -128  # the extremes of x - zp_in
    x[-1, :, -1, -1] = 127
    wt = rng.integers(-127, 128, size=(c_out, 1, *k)).astype(np.int8)
    bias = rng.integers(-20000, 20000, size=c_out).astype(np.int32) if has_bias else None
    expected, rq = executor_depthwise(x, wt, bias, stride, pads, dilation, zp_in, zp_out, clamp, seed=c_out)
    if expected.size > 200:
        assert len(np.unique(expected)) > 20, "test data should exercise the requantization"
    mult, shift = rq.multiplier.astype(np.int32), rq.shift.astype(np.int32)
    oh, ow = expected.shape[2:]
    win = window((h, w, c_in), (oh, ow, c_out), k, stride, pads, dilation, c_in)
    qp = QParams(zp_in, zp_out, rq.qmin, rq.qmax)
    w_hwo = np.ascontiguousarray(np.moveaxis(wt[:, 0], 0, -1))
    lib = library(isa)
    for name in kernels_for(case):
        got = np.zeros_like(expected)
        for n in range(batch):
            out = np.zeros((oh, ow, c_out), dtype=np.int8)
            getattr(lib, name)(ptr(nchw_to_hwc(x[n:n + 1])), ptr(w_hwo), None if bias is None else ptr(bias),
                               ptr(mult), ptr(shift), ctypes.byref(win), ctypes.byref(qp), ptr(out))
            got[n] = hwc_to_nchw(out)[0]
        np.testing.assert_array_equal(got, expected, err_msg=name)


@pytest.mark.parametrize("isa", isas())
def test_depthwise_accumulator_extremes(isa):
    """Every input at -128 with zp_in 127 (x - zp = -255), weights at +-127, large biases and
    multipliers at both ends of their range, shifts from left 2 to right 31."""
    c = 70
    x = np.full((1, c, 5, 5), -128, dtype=np.int8)
    wt = np.where(np.arange(c)[:, None, None, None] % 2 == 0, 127, -127).astype(np.int8) * np.ones((c, 1, 3, 3), np.int8)
    bias = np.where(np.arange(c) % 3 == 0, 2**24, -(2**24)).astype(np.int32)
    mult = np.where(np.arange(c) % 2 == 0, 2**31 - 1, 2**30).astype(np.int32)
    shift = np.linspace(-31, 2, c).astype(np.int32)
    from tests.kernels.intref import conv_int, requant
    acc = conv_int(x, wt, bias, 127, (1, 1), (1, 1, 1, 1), (1, 1), c)
    expected = requant(acc, mult, shift, 0, -128, 127)
    win = window((5, 5, c), (5, 5, c), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), c)
    w_hwo = np.ascontiguousarray(np.moveaxis(wt[:, 0], 0, -1))
    for name in ("ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic"):
        out = np.zeros((5, 5, c), dtype=np.int8)
        getattr(library(isa), name)(ptr(nchw_to_hwc(x)), ptr(w_hwo), ptr(bias), ptr(mult), ptr(shift),
                                    ctypes.byref(win), ctypes.byref(QParams(127, 0, -128, 127)), ptr(out))
        np.testing.assert_array_equal(hwc_to_nchw(out), expected, err_msg=name)
    assert {-128, 127} <= set(np.unique(expected))


# Exports the vector requantization of ec_x86_dw.h (AVX2 or AVX-512 lanes) and the scalar routine.
REQUANTIZE_SHIM = r"""
#include "ec_x86_dw.h"
void ec_test_requantize_vector(const int32_t *x, const int32_t *mult, const int32_t *shift, int32_t n, int32_t *out)
{
    int32_t i;
    for (i = 0; i < n; i += EC_X86_LANES) {
#ifdef EC_X86_HAVE_AVX512
        const ec_x86_rq_t rq = ec_x86_rq16_params(_mm512_loadu_si512((const void *)(mult + i)),
                                                  _mm512_loadu_si512((const void *)(shift + i)));
        _mm512_storeu_si512((void *)(out + i), ec_x86_requantize(_mm512_loadu_si512((const void *)(x + i)), &rq));
#else
        const ec_x86_rq_t rq = ec_x86_rq8_load(mult + i, shift + i);
        ec_x86_store_i32(out + i, ec_x86_requantize(_mm256_loadu_si256((const __m256i *)(const void *)(x + i)), &rq));
#endif
    }
}
void ec_test_requantize_scalar(const int32_t *x, const int32_t *mult, const int32_t *shift, int32_t n, int32_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = ec_requantize(x[i], mult[i], shift[i]);
    }
}
"""


@functools.lru_cache(maxsize=None)
def requantize_library(isa: str) -> ctypes.CDLL:
    shim = Path(tempfile.mkdtemp(prefix="ec_requantize_shim_")) / "shim.c"
    shim.write_text(REQUANTIZE_SHIM)
    return compile_library(f"requantize_{isa}", [shim], ISA_FLAGS[isa])


@pytest.mark.parametrize("isa", [i for i in isas_with_avx512() if i != "portable"])
def test_vector_requantization_equals_ec_requantize(isa):
    """Accumulators at the int32 ends and around the rounding points, multipliers at both ends of
    [2^30, 2^31), shifts from 30 left (wrapping) to 31 right."""
    rng = np.random.default_rng(5)
    edges = np.array([-2**31, -2**31 + 1, -2**30 - 1, -2**30, -2**30 + 1, -3, -2, -1, 0, 1, 2, 3, 2**30 - 1, 2**30,
                      2**31 - 2, 2**31 - 1], dtype=np.int64)
    shifts = np.arange(-31, 31)
    mults = np.array([2**30, 2**30 + 1, 1518500250, 2**31 - 2, 2**31 - 1], dtype=np.int64)
    x, m, s = (a.ravel() for a in np.meshgrid(edges, mults, shifts, indexing="ij"))
    x = np.concatenate([x, rng.integers(-2**31, 2**31, size=4096)])
    m = np.concatenate([m, rng.integers(2**30, 2**31, size=4096)])
    s = np.concatenate([s, rng.integers(-31, 8, size=4096)])
    pad = -x.size % 16
    x, m, s = (np.ascontiguousarray(np.pad(a, (0, pad)), dtype=np.int32) for a in (x, m, s))
    lib = requantize_library(isa)
    vector, scalar = np.zeros_like(x), np.zeros_like(x)
    lib.ec_test_requantize_vector(ptr(x), ptr(m), ptr(s), x.size, ptr(vector))
    lib.ec_test_requantize_scalar(ptr(x), ptr(m), ptr(s), x.size, ptr(scalar))
    np.testing.assert_array_equal(vector, scalar)
