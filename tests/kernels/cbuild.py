"""Compile the C kernels into a shared library for ctypes, once per (instruction set, flags)."""

from __future__ import annotations

import ctypes
import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edgeconv.kernels.isa import X86_AVX2_FLAGS, X86_AVX512_FLAGS, host_x86_levels, x86_kernel_set
from edgeconv.kernels.registry import KERNELS, sources_for
from edgeconv.resources import kernels_dir

STRICT = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
# Test builds: "x86" is the AVX2 build (the fallback), "x86-avx512bw" the same sources at the
# avx512 level (AVX-512 F/BW/VL without VNNI, kernels.isa), "x86-avx512" for AVX-512 VNNI,
# "x86-amx" the avx512-amx level (the AMX tiles of the int8 GEMM, ec_x86_amx.h).
ISA_FLAGS = {"portable": (), "x86": X86_AVX2_FLAGS, "x86-avx512bw": x86_kernel_set("avx512").flags,
             "x86-avx512": X86_AVX2_FLAGS + X86_AVX512_FLAGS, "x86-amx": x86_kernel_set("avx512-amx").flags}
ISA_DIRS = {"portable": "portable", "x86": "x86", "x86-avx512bw": "x86", "x86-avx512": "x86", "x86-amx": "x86"}
LEVEL_OF_BUILD = {"x86": "avx2", "x86-avx512bw": "avx512", "x86-avx512": "avx512-vnni", "x86-amx": "avx512-amx"}

# A shim exporting the header's inline fixed-point routines so tests can call them.
SHIM = r"""
#include "ec_common.h"
int32_t ec_test_requantize(int32_t x, int32_t mult, int32_t shift) { return ec_requantize(x, mult, shift); }
int32_t ec_test_srdhm(int32_t a, int32_t b) { return ec_srdhm(a, b); }
int32_t ec_test_rdivpot(int32_t x, int32_t e) { return ec_rounding_divide_by_pot(x, (int)e); }
int32_t ec_test_popcount(uint32_t x) { return ec_popcount32(x); }
#ifdef __AVX2__
#include "ec_x86_avx2.h"
void ec_test_requantize_row(const int32_t *acc, const int32_t *mult, const int32_t *shift, int32_t n,
                            const ec_qparams_t *q, int8_t *out) { ec_avx2_requantize_row(acc, mult, shift, n, q, out); }
#endif
#ifdef __AVX512F__
#include "ec_x86_avx512.h"
#endif
#ifdef EC_X86_AVX512
void ec_test_requantize16(const int32_t *acc, const int32_t *mult, const int32_t *shift, int32_t *out)
{
    _mm512_storeu_si512((void *)out, ec_avx512_requantize16(_mm512_loadu_si512((const void *)acc),
                        _mm512_loadu_si512((const void *)mult), _mm512_loadu_si512((const void *)shift)));
}
int32_t ec_test_requantize16_high(const int32_t *acc, const int32_t *mult, const int32_t *shift, int32_t zp,
                                  int32_t floored, int32_t *out)
{
    ec_x86_rq16_high_t h;
    const int serves = ec_x86_rq16_high_params(_mm512_loadu_si512((const void *)mult),
                                               _mm512_loadu_si512((const void *)shift), zp, (__mmask16)0xFFFF, &h);
    const __m512i x = _mm512_loadu_si512((const void *)acc);
    _mm512_storeu_si512((void *)out, floored ? ec_x86_requantize16_high(x, &h, 1) : ec_x86_requantize16_high(x, &h, 0));
    return serves;
}
#endif
"""


def isas_to_test() -> list:
    """Instruction sets to test on this machine: portable always, x86 when the CPU has AVX2."""
    return ["portable"] + (["x86"] if "avx2" in host_x86_levels() else [])


def isas_with_avx512() -> list:
    """``isas_to_test()`` plus the AVX-512 builds of the x86 kernels (without and with VNNI) this CPU runs."""
    levels = host_x86_levels()
    return isas_to_test() + [build for build in ("x86-avx512bw", "x86-avx512") if LEVEL_OF_BUILD[build] in levels]


def isas_with_amx() -> list:
    """``isas_with_avx512()`` plus the AMX build where this CPU has AMX: for the tests of the int8
    GEMM kernels, the only ones AMX changes."""
    return isas_with_avx512() + (["x86-amx"] if LEVEL_OF_BUILD["x86-amx"] in host_x86_levels() else [])


@functools.lru_cache(maxsize=None)
def kernel_library(isa: str = "portable") -> ctypes.CDLL:
    build = Path(tempfile.mkdtemp(prefix=f"ec_kernels_{isa}_"))
    shim = build / "shim.c"
    shim.write_text(SHIM)
    sources = [str(s) for s in sources_for([k.name for k in KERNELS], ISA_DIRS[isa])] + [str(shim)]
    out = build / "libeckernels.so"
    cmd = ["cc", *STRICT, "-O2", *ISA_FLAGS[isa], "-shared", "-fPIC", f"-I{kernels_dir() / 'include'}",
           *sources, "-lm", "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, f"kernels do not compile for {isa}:\n{result.stderr}"
    return ctypes.CDLL(str(out))


class Window(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
        "pad_top", "pad_left", "pad_bottom", "pad_right", "dil_h", "dil_w", "groups")]


class QParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("in_zp", "out_zp", "act_min", "act_max")]


class Broadcast(ctypes.Structure):
    _fields_ = [("dims", ctypes.c_int32 * 3), ("a_strides", ctypes.c_int32 * 3), ("b_strides", ctypes.c_int32 * 3)]


class AddParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "a_offset", "a_mult", "a_shift", "b_offset", "b_mult", "b_shift", "left_shift", "out_mult",
        "out_shift", "out_zp", "act_min", "act_max", "affine_a_hi", "affine_a_lo", "affine_b_hi", "affine_b_lo",
        "affine_c_hi", "affine_c_lo", "affine_shift")]


class MulParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("a_offset", "b_offset", "out_mult", "out_shift", "out_zp", "act_min", "act_max")]


def ptr(a: np.ndarray):
    assert a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(ctypes.c_void_p)


def window(x_hwc: tuple, out_hwc: tuple, k: tuple, stride: tuple, pads: tuple, dilation: tuple, groups: int = 1) -> Window:
    """pads = (top, left, bottom, right)."""
    return Window(*x_hwc, *out_hwc, *k, *stride, *pads, *dilation, groups)


def nchw_to_hwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(x[0], 0, -1))


def hwc_to_nchw(y: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(y, -1, 0))[None]


def cross_compiler(name: str) -> str | None:
    return shutil.which(name)


def kernel_names_in(isa: str) -> list:
    return sorted(p.stem for p in (kernels_dir() / isa).glob("*.c"))


def strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)
