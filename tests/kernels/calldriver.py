"""One C program that calls kernels by name with argument buffers read from stdin, so that the
same calls can run through the portable kernels on this machine and through the NEON kernels under
qemu, and their outputs be compared byte for byte.

A call is the kernel's name and its arguments in order, each an input buffer (an array, a ctypes
structure, a scalar packed to its C type, or ``None`` for a NULL pointer), an output buffer of a
given size (:func:`out`), or the buffer of an earlier argument again (:func:`same`, for in-place
calls). Every output buffer, and every buffer passed again, comes back.
"""

from __future__ import annotations

import ctypes
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeconv.kernels.registry import sources_for
from edgeconv.resources import kernels_dir
from tests.kernels.cbuild import STRICT

# name -> the C call, arguments P(i) (pointer), I(i) (int32_t), F(i) (float).
CALLS = {
    "ec_s8_conv2d_slidingwin": "ec_s8_conv2d_slidingwin(P(0), P(1), P(2), P(3), P(4), P(5), P(6), P(7))",
    "ec_s8_conv2d_im2col": "ec_s8_conv2d_im2col(P(0), P(1), P(2), P(3), P(4), P(5), P(6), P(7), P(8), P(9))",
    "ec_s8_conv2d_1x1": "ec_s8_conv2d_1x1(P(0), P(1), P(2), P(3), P(4), P(5), P(6), P(7), P(8))",
    "ec_s8_fully_connected": "ec_s8_fully_connected(P(0), P(1), P(2), P(3), P(4), P(5), I(6), I(7), P(8), P(9))",
    "ec_s8_dwconv2d_3x3": "ec_s8_dwconv2d_3x3(P(0), P(1), P(2), P(3), P(4), P(5), P(6), P(7))",
    "ec_s8_dwconv2d_generic": "ec_s8_dwconv2d_generic(P(0), P(1), P(2), P(3), P(4), P(5), P(6), P(7))",
    "ec_s8_add": "ec_s8_add(P(0), P(1), P(2), P(3), P(4))",
    "ec_s8_mul": "ec_s8_mul(P(0), P(1), P(2), P(3), P(4))",
    "ec_s8_maxpool2d": "ec_s8_maxpool2d(P(0), P(1), I(2), I(3), P(4))",
    "ec_f32_maxpool2d": "ec_f32_maxpool2d(P(0), P(1), P(2))",
    "ec_s8_avgpool2d": "ec_s8_avgpool2d(P(0), P(1), I(2), I(3), I(4), I(5), P(6))",
    "ec_s8_global_avgpool": "ec_s8_global_avgpool(P(0), I(1), I(2), I(3), I(4), P(5), P(6))",
    "ec_s8_lut": "ec_s8_lut(P(0), P(1), I(2), P(3))",
    "ec_s8_quantize": "ec_s8_quantize(P(0), I(1), F(2), I(3), I(4), I(5), P(6))",
    "ec_b1_fully_connected": "ec_b1_fully_connected(P(0), P(1), P(2), P(3), P(4), P(5), I(6), I(7), I(8), P(9), P(10))",
    # the requantization of ec_arm_requant.h (NEON builds) or ec_requantize (others), lane by lane
    "ec_f32_conv2d_direct": "ec_f32_conv2d_direct(P(0), P(1), P(2), P(3), F(4), F(5), P(6))",
    "ec_f32_conv2d_1x1": "ec_f32_conv2d_1x1(P(0), P(1), P(2), P(3), F(4), F(5), P(6))",
    "ec_f32_conv2d_im2col": "ec_f32_conv2d_im2col(P(0), P(1), P(2), P(3), F(4), F(5), P(6))",
    "ec_f32_dwconv2d": "ec_f32_dwconv2d(P(0), P(1), P(2), P(3), F(4), F(5), P(6))",
    # the resize parameters' fields as arguments: in, in_w, channels, out_w, tap tables, rows, out
    "ec_s8_resize_bilinear": "ec_s8_resize_t r = {I(1), I(2), I(3), P(4), P(5)}; "
                             "ec_s8_resize_bilinear(P(0), &r, I(6), I(7), P(8))",
    "ec_f32_resize_bilinear": "ec_f32_resize_t r = {I(1), I(2), I(3), P(4), P(5), P(6), P(7)}; "
                              "ec_f32_resize_bilinear(P(0), &r, I(8), I(9), P(10))",
    "requantize": "requantize(P(0), P(1), P(2), I(3), P(4))",
}

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec_s8.h"
#include "ec_b1.h"
#include "ec_f32.h"
#include "ec_resize.h"
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
#include "ec_arm_requant.h"
#endif

/* stdin, per call: int32 name length, the name, int32 argument count, then per argument int32
 * kind (0 input, 1 output, 2 + j: argument j's buffer), int32 size and, for an input, its bytes
 * (size 0: a NULL pointer). stdout: every output buffer and every buffer passed again, in order. */
enum { MAX_ARGS = 16 };
/* inline: a driver built for a few calls leaves some of these unused */
static void *arg[MAX_ARGS];

static inline void *P(int i) { return arg[i]; }
static inline int32_t I(int i) { int32_t v; memcpy(&v, arg[i], 4); return v; }
static inline float F(int i) { float v; memcpy(&v, arg[i], 4); return v; }

static inline void requantize(const int32_t *x, const int32_t *mult, const int32_t *shift, int32_t n, int32_t *out)
{
    int32_t i = 0;
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
    for (; i + 4 <= n; i += 4) {
        const ec_neon_rq_t rq = ec_neon_rq_make(vld1q_s32(mult + i), vld1q_s32(shift + i));
        vst1q_s32(out + i, ec_neon_requantize(vld1q_s32(x + i), &rq));
    }
#endif
    for (; i < n; ++i) {
        out[i] = ec_requantize(x[i], mult[i], shift[i]);
    }
}

static int call(const char *name)
{
%CALLS%
    return 0;
}

static int read_exact(void *p, size_t n) { return n == 0 || fread(p, 1, n, stdin) == n; }

int main(void)
{
    int32_t name_len;
    while (read_exact(&name_len, 4)) {
        char name[64];
        int32_t count, kind[MAX_ARGS], size[MAX_ARGS], i;
        if (name_len <= 0 || name_len >= 64 || !read_exact(name, (size_t)name_len) || !read_exact(&count, 4)
            || count > MAX_ARGS) {
            return 1;
        }
        name[name_len] = 0;
        for (i = 0; i < count; ++i) {
            if (!read_exact(&kind[i], 4) || !read_exact(&size[i], 4)) {
                return 1;
            }
            if (kind[i] >= 2) {
                if (kind[i] - 2 >= i) {
                    return 1;
                }
                arg[i] = arg[kind[i] - 2];
                size[i] = size[kind[i] - 2];
                continue;
            }
            arg[i] = size[i] ? malloc((size_t)size[i]) : NULL;
            if (kind[i] == 0 && !read_exact(arg[i], (size_t)size[i])) {
                return 1;
            }
            if (kind[i] == 1) {
                memset(arg[i], 0x5A, (size_t)size[i]);
            }
        }
        if (!call(name)) {
            fprintf(stderr, "unknown kernel %s\n", name);
            return 1;
        }
        for (i = 0; i < count; ++i) {
            if (kind[i] >= 1) {
                fwrite(arg[i], 1, (size_t)size[i], stdout);
            }
        }
        for (i = 0; i < count; ++i) {
            if (kind[i] < 2) {
                free(arg[i]);
            }
        }
    }
    return 0;
}
"""


@dataclass(frozen=True)
class Out:
    size: int


@dataclass(frozen=True)
class Same:
    index: int


def out(size: int) -> Out:
    """An output buffer of ``size`` bytes."""
    return Out(int(size))


def same(index: int) -> Same:
    """The buffer of argument ``index`` again (an in-place call)."""
    return Same(index)


def i32(v) -> bytes:
    return struct.pack("<i", int(v))


def f32(v) -> bytes:
    return struct.pack("<f", float(v))


@dataclass
class Calls:
    """Kernel calls to run in one driver process, and the kernels they name."""

    records: list = field(default_factory=list)

    def add(self, name: str, *args) -> None:
        assert name in CALLS, name
        self.records.append((name, args))

    @property
    def names(self) -> set:
        return {name for name, _ in self.records}

    def stdin(self) -> bytes:
        chunks = []
        for name, args in self.records:
            chunks += [i32(len(name)), name.encode(), i32(len(args))]
            for a in args:
                if isinstance(a, Out):
                    chunks += [i32(1), i32(a.size)]
                elif isinstance(a, Same):
                    chunks += [i32(2 + a.index), i32(0)]
                else:
                    data = b"" if a is None else _bytes(a)
                    chunks += [i32(0), i32(len(data)), data]
        return b"".join(chunks)

    def split(self, stdout: bytes) -> list:
        """The driver's stdout as one list of output buffers per call."""
        results, offset = [], 0
        for name, args in self.records:
            outs = []
            for a in args:
                size = a.size if isinstance(a, Out) else len(_bytes(args[a.index])) if isinstance(a, Same) else 0
                if isinstance(a, (Out, Same)):
                    outs.append(stdout[offset:offset + size])
                    offset += size
            results.append(outs)
        assert offset == len(stdout), f"driver wrote {len(stdout)} bytes, {offset} expected"
        return results


def _bytes(a) -> bytes:
    if isinstance(a, bytes):
        return a
    if isinstance(a, np.ndarray):
        return np.ascontiguousarray(a).tobytes()
    if isinstance(a, ctypes.Structure):
        return bytes(a)
    raise TypeError(f"cannot pass {type(a).__name__} to the driver")


def build(cc: str, isa: str, flags: tuple, out_path: Path, names: tuple = tuple(CALLS)) -> Path:
    """The driver with the kernels of kernels_c/<isa> (portable where it has none), strict C99;
    ``names``: the calls it knows (all of them, or a few where a build takes long: sanitizers)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    driver = out_path.parent / "call_driver.c"
    body = "\n".join(f'    if (!strcmp(name, "{n}")) {{ {CALLS[n]}; return 1; }}' for n in names)
    driver.write_text(DRIVER.replace("%CALLS%", body))
    kernels = [n for n in names if n.startswith("ec_")]
    sources = [str(s) for s in sources_for(kernels, isa)]
    cmd = [cc, *STRICT, "-O2", *flags, f"-I{kernels_dir() / 'include'}", *sources, str(driver), "-lm", "-o", str(out_path)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"the call driver does not compile with {cc} {' '.join(flags)}:\n{r.stderr}"
    return out_path


def run(command: list, calls: Calls) -> list:
    """Runs the driver (``command``: the binary, or an emulator and its arguments) on ``calls``."""
    r = subprocess.run(command, input=calls.stdin(), capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-4000:]
    return calls.split(r.stdout)
