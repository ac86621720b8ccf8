"""XNOR-popcount and DoReFa bit-serial convolutions: exact int8 results, documented bit order.

Every build of the two kernels is checked: plain C, the x86 AVX2 build, the AVX-512 build (nibble
table popcounts) and the AVX-512 build with VPOPCNTDQ where this CPU has them; and, through a small
C driver reading cases on stdin, the same kernels under ASan and UBSan. The NEON build runs the same
driver under qemu-aarch64 (test_binary_kernels_arm.py)."""

from __future__ import annotations

import ctypes
import functools
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from edgeconv.kernels.isa import X86_AVX2_FLAGS, X86_AVX512_FLAGS, host_cpu_flags, host_x86_levels, x86_kernel_set
from edgeconv.kernels.packing import pack_bitserial_weights, pack_bits, pack_xnor_weights
from edgeconv.kernels.registry import sources_for
from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
from edgeconv.reference.int_kernels import INT_KERNELS
from edgeconv.resources import kernels_dir
from tests.kernels.cbuild import STRICT, QParams, hwc_to_nchw, nchw_to_hwc, ptr, window
from tests.kernels.intref import conv_int, multipliers, requant

EC_B1_IN_PACKED, EC_B1_OUT_PACKED = 1, 2  # flags of ec_b1_conv2d_xnor (ec_b1.h)


def packed_signs(values_nchw: np.ndarray, zp: int = 0) -> np.ndarray:
    """(1, C, H, W) codes -> (H, W, words) packed words, bit set where the code is below zp (-1)."""
    return np.ascontiguousarray(pack_bits((nchw_to_hwc(values_nchw) < zp).astype(np.uint64)))


KERNELS = ("ec_b1_conv2d_xnor", "ec_s8_conv2d_bitserial", "ec_b1_maxpool2d", "ec_b1_fully_connected")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")


def builds_to_test() -> dict:
    """Build name -> (kernel directory, compiler flags) for every build this CPU runs."""
    builds = {"portable": ("portable", ())}
    levels = host_x86_levels()
    if "avx2" in levels:
        builds["x86-avx2"] = ("x86", X86_AVX2_FLAGS)
    if "avx512" in levels:  # AVX-512 F/BW/VL without VNNI (kernels.isa)
        builds["x86-avx512bw"] = ("x86", x86_kernel_set("avx512").flags)
    if "avx512-vnni" in levels:
        builds["x86-avx512"] = ("x86", X86_AVX2_FLAGS + X86_AVX512_FLAGS)
        if "avx512_vpopcntdq" in host_cpu_flags():
            builds["x86-avx512-vpopcntdq"] = ("x86", X86_AVX2_FLAGS + X86_AVX512_FLAGS + ("-mavx512vpopcntdq",))
    return builds


BUILDS = builds_to_test()


def kernel_sources(isa_dir: str) -> list:
    return [str(path) for path in sources_for(KERNELS, isa_dir)]


@functools.lru_cache(maxsize=None)
def lowbit_library(build: str) -> ctypes.CDLL:
    """The two kernels of one build in a shared library, compiled with the strict flags."""
    isa_dir, flags = BUILDS[build]
    out = Path(tempfile.mkdtemp(prefix=f"ec_b1_{build}_")) / "libecb1.so"
    cmd = ["cc", *STRICT, "-O2", *flags, "-shared", "-fPIC", f"-I{kernels_dir() / 'include'}", *kernel_sources(isa_dir),
           "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, f"low-bit kernels do not compile for {build}:\n{result.stderr}"
    return ctypes.CDLL(str(out))


def out_hw(h, w, k, stride, pads, dilation):
    oh = (h + pads[0] + pads[2] - dilation[0] * (k[0] - 1) - 1) // stride[0] + 1
    ow = (w + pads[1] + pads[3] - dilation[1] * (k[1] - 1) - 1) // stride[1] + 1
    return oh, ow


def ext(o, k, s, d):
    return (o - 1) * s + d * (k - 1) + 1


# ----------------------------------------------------------------------------------------------
# One convolution case, its packed operands and its expected output.

@dataclass
class Case:
    kind: str                 # "xnor" or "bitserial"
    cin: int
    h: int
    w: int
    cout: int
    k: tuple
    stride: tuple
    pads: tuple               # top, left, bottom, right
    dilation: tuple
    batch: int = 1
    act_bits: int = 1
    weight_bits: int = 1
    in_zp: int = 0
    seed: int = 0
    extreme: bool = False     # every popcount at its maximum (all bits of a XOR w, or of the codes, set)
    stepped: bool = False     # weights times a per-channel step n (single-rounding storage), n * max|w| <= 127
    flags: int = 0            # XNOR: EC_B1_IN_PACKED (1) and EC_B1_OUT_PACKED (2), see packed_limits

    @property
    def name(self) -> str:
        bits = "" if self.kind == "xnor" else f"_a{self.act_bits}w{self.weight_bits}"
        return (f"{self.kind}{bits}_c{self.cin}_{self.h}x{self.w}_o{self.cout}_k{self.k[0]}x{self.k[1]}"
                f"_s{self.stride[0]}{self.stride[1]}_p{''.join(map(str, self.pads))}_d{self.dilation[0]}{self.dilation[1]}"
                f"_n{self.batch}_zp{self.in_zp}{'_extreme' if self.extreme else ''}{'_stepped' if self.stepped else ''}"
                f"{'_flags' + str(self.flags) if self.flags else ''}")


@dataclass
class Operands:
    x: np.ndarray             # (batch, C, H, W) int8
    weights: np.ndarray       # packed uint32 words
    bias: np.ndarray
    steps: np.ndarray         # per-channel weight steps (int32)
    mult: np.ndarray
    shift: np.ndarray
    q: QParams
    win: object
    scratch_words: int
    expected: np.ndarray      # (batch, C_out, OH, OW) int8
    pops: np.ndarray = None   # XNOR: (batch, C_out, OH, OW) popcount sums of a XOR w (one-padded)


def operands(case: Case) -> Operands:
    rng = np.random.default_rng(case.seed)
    oh, ow = out_hw(case.h, case.w, case.k, case.stride, case.pads, case.dilation)
    words = (case.cin + 31) // 32
    area = ext(oh, case.k[0], case.stride[0], case.dilation[0]) * ext(ow, case.k[1], case.stride[1], case.dilation[1])
    if case.kind == "xnor":
        # Any int8 input: the kernel reads x < in_zp as -1 (Sign of x - in_zp, zero -> +1).
        x = rng.integers(-128, 128, size=(case.batch, case.cin, case.h, case.w)).astype(np.int8)
        wt = rng.choice(np.array([-1, 1], dtype=np.int8), size=(case.cout, case.cin, *case.k))
        if case.extreme:
            x[:], wt[:] = -128, 1
        bias = rng.integers(-50, 50, size=case.cout).astype(np.int32)
        taps = case.cin * case.k[0] * case.k[1]
        steps = weight_steps_for(case, rng, 1)
        mult, shift = multipliers(rng.uniform(0.01, 0.05, size=case.cout) * (40 / taps if case.extreme else 1) / steps)
        q = QParams(case.in_zp, 3, -100, 127)
        signs = np.where(x.astype(np.int32) < case.in_zp, -1, 1)
        # One-padding: the int8 formula on the sign input padded with +1 and no further padding.
        top, left, bottom, right = case.pads
        padded = np.ones((case.batch, case.cin, case.h + top + bottom, case.w + left + right), dtype=np.int64)
        padded[:, :, top:top + case.h, left:left + case.w] = signs
        accs = [conv_int(padded[b:b + 1], stepped(wt, steps), bias, 0, case.stride, (0, 0, 0, 0), case.dilation, 1)
                for b in range(case.batch)]
        agreement = np.concatenate([conv_int(padded[b:b + 1], wt, np.zeros(case.cout), 0, case.stride, (0, 0, 0, 0),
                                             case.dilation, 1) for b in range(case.batch)])
        pops = (taps - agreement) // 2  # sum a*w = K - 2 popcount(a XOR w)
        packed, scratch_words = pack_xnor_weights(wt), (area + case.k[0] * case.k[1]) * words
    else:
        m, kb = case.act_bits, case.weight_bits
        codes = rng.integers(0, 1 << m, size=(case.batch, case.cin, case.h, case.w))
        levels = rng.integers(0, 1 << kb, size=(case.cout, case.cin, *case.k))
        if case.extreme:
            codes[:], levels[:] = (1 << m) - 1, (1 << kb) - 1
        x = (codes + case.in_zp).astype(np.int8)
        wt = (2 * levels - ((1 << kb) - 1)).astype(np.int8)
        bias = rng.integers(-300, 300, size=case.cout).astype(np.int32)
        steps = weight_steps_for(case, rng, (1 << kb) - 1)
        bound = case.cin * case.k[0] * case.k[1] * ((1 << m) - 1) * ((1 << kb) - 1)
        mult, shift = multipliers(rng.uniform(0.001, 0.02, size=case.cout) * (2000 / bound if case.extreme else 1) / steps)
        q = QParams(case.in_zp, -7, -128, 120)
        accs = [conv_int(x[b:b + 1], stepped(wt, steps), bias, case.in_zp, case.stride, case.pads, case.dilation, 1)
                for b in range(case.batch)]
        packed, scratch_words = pack_bitserial_weights(wt, kb), (area + case.k[0] * case.k[1]) * words * m
    expected = np.concatenate([requant(a, mult, shift, q.out_zp, q.act_min, q.act_max) for a in accs])
    win = window((case.h, case.w, case.cin), (oh, ow, case.cout), case.k, case.stride, case.pads, case.dilation)
    return Operands(x, np.ascontiguousarray(packed), bias, steps, mult, shift, q, win, scratch_words, expected,
                    pops if case.kind == "xnor" else None)


def weight_steps_for(case: Case, rng, peak: int) -> np.ndarray:
    """Per-channel weight steps of a case: 1, random in [1, 127 // peak] (stepped), or that maximum
    (stepped and extreme: the largest accumulators)."""
    top = 127 // peak
    if not case.stepped:
        return np.ones(case.cout, dtype=np.int32)
    if case.extreme:
        return np.full(case.cout, top, dtype=np.int32)
    return rng.integers(1, top + 1, size=case.cout).astype(np.int32)


def stepped(wt: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The int8 weights the kernels compute with: the packed +-1 / odd values times their step."""
    return wt.astype(np.int64) * steps.reshape(-1, 1, 1, 1)


def run_in_process(build: str, case: Case) -> np.ndarray:
    """Runs the case through the build's shared library, one call per sample, one scratch buffer
    (filled with garbage first: the kernels must not rely on its contents)."""
    ops_ = operands(case)
    lib = lowbit_library(build)
    scratch = np.full(ops_.scratch_words, 0xA5A5A5A5, dtype=np.uint32)
    outs = []
    for b in range(case.batch):
        xin = nchw_to_hwc(ops_.x[b:b + 1])
        out = np.zeros((ops_.win.out_h, ops_.win.out_w, case.cout), dtype=np.int8)
        common = (ptr(xin), ptr(ops_.weights), ptr(ops_.bias), ptr(ops_.steps), ptr(ops_.mult), ptr(ops_.shift),
                  ctypes.byref(ops_.win), ctypes.byref(ops_.q))
        if case.kind == "xnor":
            lib.ec_b1_conv2d_xnor(*common[:6], None, *common[6:], 0, ptr(scratch), ptr(out))
        else:
            lib.ec_s8_conv2d_bitserial(*common, case.act_bits, case.weight_bits, ptr(scratch), ptr(out))
        outs.append(hwc_to_nchw(out))
    return np.concatenate(outs)


# ----------------------------------------------------------------------------------------------
# A C driver running many cases from stdin: used under sanitizers here and under qemu for NEON.

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec_b1.h"

/* Per case on stdin: int32 kind (0 XNOR, 1 bit-serial), batch, act_bits, weight_bits,
 * scratch_words, weight_words, XNOR flags, the 17 window fields, the 4 qparams fields; then the
 * input (batch x H x W x C int8, or batch x H x W x words uint32 with EC_B1_IN_PACKED), uint32
 * weights, int32 bias, weight steps, mult, shift, popcount limits (C_out each). Writes the outputs
 * (batch x OH x OW x C_out int8, or x words uint32 with EC_B1_OUT_PACKED) to stdout. */
static int read_exact(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }

int main(void)
{
    int32_t head[7 + 17 + 4];
    while (read_exact(head, sizeof head)) {
        ec_window_t win;
        ec_qparams_t q;
        size_t in_size, out_size, c_bytes;
        unsigned char *in, *out;
        uint32_t *w, *scratch;
        int32_t *bias, *steps, *mult, *shift, *limits, b;
        memcpy(&win, head + 7, sizeof win);
        memcpy(&q, head + 24, sizeof q);
        in_size = (size_t)win.in_h * win.in_w *
                  ((head[6] & EC_B1_IN_PACKED) ? (size_t)((win.in_c + 31) / 32) * 4 : (size_t)win.in_c);
        out_size = (size_t)win.out_h * win.out_w *
                   ((head[6] & EC_B1_OUT_PACKED) ? (size_t)((win.out_c + 31) / 32) * 4 : (size_t)win.out_c);
        c_bytes = (size_t)win.out_c * 4;
        in = malloc(in_size * head[1]);
        out = malloc(out_size * head[1]);
        w = malloc((size_t)head[5] * 4);
        scratch = malloc((size_t)head[4] * 4);
        bias = malloc(c_bytes);
        steps = malloc(c_bytes);
        mult = malloc(c_bytes);
        shift = malloc(c_bytes);
        limits = malloc(c_bytes);
        if (!read_exact(in, in_size * head[1]) || !read_exact(w, (size_t)head[5] * 4) || !read_exact(bias, c_bytes) ||
            !read_exact(steps, c_bytes) || !read_exact(mult, c_bytes) || !read_exact(shift, c_bytes) ||
            !read_exact(limits, c_bytes)) {
            return 2;
        }
        memset(scratch, 0xA5, (size_t)head[4] * 4);
        memset(out, 0x5A, out_size * head[1]);
        for (b = 0; b < head[1]; ++b) {
            if (head[0] == 0) {
                ec_b1_conv2d_xnor(in + b * in_size, w, bias, steps, mult, shift, limits, &win, &q, head[6], scratch,
                                  out + b * out_size);
            } else {
                ec_s8_conv2d_bitserial((const int8_t *)(in + b * in_size), w, bias, steps, mult, shift, &win, &q,
                                       head[2], head[3], scratch, (int8_t *)(out + b * out_size));
            }
        }
        fwrite(out, 1, out_size * head[1], stdout);
        free(in); free(out); free(w); free(scratch); free(bias); free(steps); free(mult); free(shift); free(limits);
    }
    return 0;
}
"""


def build_driver(cc: str, isa_dir: str, flags: tuple, out: Path) -> Path:
    """Compiles the driver with the two kernels of kernels_c/<isa_dir> (kernels with the strict flags)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    driver = out.parent / "b1_driver.c"
    driver.write_text(DRIVER)
    include = f"-I{kernels_dir() / 'include'}"
    objects = []
    for src in kernel_sources(isa_dir):
        obj = out.parent / (Path(src).stem + ".o")
        r = subprocess.run([cc, *STRICT, "-O2", *flags, include, "-c", src, "-o", str(obj)], capture_output=True, text=True)
        assert r.returncode == 0, f"{src} does not compile with {cc}:\n{r.stderr}"
        objects.append(str(obj))
    r = subprocess.run([cc, "-std=c99", "-O1", *flags, include, str(driver), *objects, "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def packed_limits(case: Case) -> np.ndarray:
    """The popcount limits of a case with a packed output: over the whole range [-1, K]."""
    taps = case.cin * case.k[0] * case.k[1]
    return np.random.default_rng(case.seed + 99).integers(-1, taps + 1, size=case.cout).astype(np.int32)


def driver_samples(case: Case, o: Operands) -> tuple:
    """(input bytes, expected output bytes) of a case's samples, in the forms its flags ask for."""
    inputs, outputs = [], []
    for b in range(case.batch):
        sample = o.x[b:b + 1]
        inputs.append(packed_signs(sample, case.in_zp) if case.flags & EC_B1_IN_PACKED else nchw_to_hwc(sample))
        if case.flags & EC_B1_OUT_PACKED:
            minus = o.pops[b:b + 1] > packed_limits(case).reshape(1, -1, 1, 1)
            outputs.append(packed_signs(np.where(minus, -1, 1)).astype("<u4"))
        else:
            outputs.append(nchw_to_hwc(o.expected[b:b + 1]))
    return b"".join(a.tobytes() for a in inputs), b"".join(a.tobytes() for a in outputs)


def driver_input(cases: list) -> tuple:
    """The stdin bytes for `cases` and the output bytes expected of each."""
    chunks, expected = [], []
    for case in cases:
        o = operands(case)
        win_fields = [getattr(o.win, name) for name, _ in o.win._fields_]
        q_fields = [getattr(o.q, name) for name, _ in o.q._fields_]
        head = [0 if case.kind == "xnor" else 1, case.batch, case.act_bits, case.weight_bits, o.scratch_words,
                o.weights.size, case.flags, *win_fields, *q_fields]
        samples, outputs = driver_samples(case, o)
        limits = packed_limits(case) if case.flags & EC_B1_OUT_PACKED else np.zeros(case.cout, dtype=np.int32)
        chunks += [struct.pack(f"<{len(head)}i", *head), samples, o.weights.astype("<u4").tobytes(),
                   o.bias.astype("<i4").tobytes(), o.steps.astype("<i4").tobytes(), o.mult.astype("<i4").tobytes(),
                   o.shift.astype("<i4").tobytes(), limits.astype("<i4").tobytes()]
        expected.append(outputs)
    return b"".join(chunks), expected


def check_driver_output(cases: list, expected: list, stdout: bytes) -> None:
    offset = 0
    for case, want in zip(cases, expected):
        got = stdout[offset:offset + len(want)]
        assert got == want, f"{case.name}: driver output differs"
        offset += len(want)
    assert offset == len(stdout)


def random_cases(seed: int, count: int) -> list:
    """Random shapes over the edges: channel counts around 32/64/512 word boundaries, 1x1/3x3/5x5
    and rectangular kernels, strides 1 and 2, asymmetric padding, dilation, row widths around the
    lane counts, output channels around the block sizes, batches of 1 to 3, non-zero zero points."""
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(count):
        kind = "xnor" if i % 2 == 0 else "bitserial"
        k = [(1, 1), (3, 3), (5, 5), (3, 1), (1, 3), (3, 5)][rng.integers(6)]
        stride = [(1, 1), (2, 2), (1, 2), (2, 1)][rng.integers(4)]
        dilation = (1, 1) if rng.random() < 0.7 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        pads = tuple(int(rng.integers(0, k[j % 2] + 1)) for j in range(4))
        cin = int(rng.choice([1, 3, 31, 32, 33, 63, 64, 65, 96, 130, 511, 513]))
        cout = int(rng.choice([1, 3, 7, 8, 9, 15, 16, 17, 31, 33]))
        h = int(rng.integers(1, 9)) + (k[0] - 1) * dilation[0]
        w = int(rng.integers(1, 40)) + (k[1] - 1) * dilation[1]
        if cin > 200:
            h, w = (k[0] - 1) * dilation[0] + 2, (k[1] - 1) * dilation[1] + int(rng.integers(1, 20))
        bits = [(1, 1), (2, 2), (4, 4), (3, 2), (8, 1), (2, 4)][rng.integers(6)]
        in_zp = int(rng.choice([0, -3, 5])) if kind == "xnor" else int(rng.choice([-128, -100, 0]))
        if kind == "bitserial":
            in_zp = min(in_zp, 127 - (1 << bits[0]) + 1)
        cases.append(Case(kind, cin, h, w, cout, k, stride, pads, dilation, batch=int(rng.integers(1, 4)),
                          act_bits=bits[0], weight_bits=bits[1], in_zp=in_zp, seed=seed * 1000 + i,
                          stepped=i % 3 == 1))
    return cases


# ----------------------------------------------------------------------------------------------

# (C_in, H, W, C_out, k, stride, pads (t,l,b,r), dilation)
SHAPES = [
    (1, 5, 5, 3, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (31, 6, 5, 4, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    (32, 5, 6, 5, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    (33, 6, 6, 7, (3, 3), (1, 2), (0, 1, 2, 1), (1, 1)),
    (64, 4, 4, 8, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),
    (70, 7, 7, 6, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),
    (65, 9, 21, 19, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1)),
    (515, 4, 18, 17, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
]
SHAPE_IDS = [f"c{c[0]}_{c[1]}x{c[2]}_o{c[3]}_k{c[4][0]}_s{c[5][0]}{c[5][1]}_d{c[7][0]}" for c in SHAPES]
RANDOM_CASES = random_cases(7, 24)
# Long popcount runs at their maximum: byte counts must be widened before they wrap.
EXTREME_CASES = [Case("xnor", 513, 4, 19, 17, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), extreme=True),
                 Case("bitserial", 130, 5, 5, 9, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), act_bits=2, weight_bits=2,
                      in_zp=-128, extreme=True),
                 Case("xnor", 1100, 3, 3, 5, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), extreme=True),
                 Case("xnor", 513, 4, 19, 17, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), extreme=True, stepped=True),
                 Case("bitserial", 130, 5, 5, 9, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), act_bits=2, weight_bits=2,
                      in_zp=-128, extreme=True, stepped=True)]


def test_pack_bits_order():
    """Channel c is bit c % 32 of word c // 32; unused high bits of the last word are zero."""
    bits = np.zeros((1, 70), dtype=np.uint64)
    bits[0, [0, 31, 33, 69]] = 1
    words = pack_bits(bits)
    assert words.dtype == np.uint32 and words.shape == (1, 3)
    assert words[0, 0] == (1 | (1 << 31)) and words[0, 1] == (1 << 1) and words[0, 2] == (1 << 5)


def test_pack_xnor_weights_sets_bits_for_minus_one_and_interleaves_16_channels():
    """Word wd of tap t of channel c at [c // 16, t * words + wd, c % 16]; the last group's missing
    channels are zero words."""
    w = np.ones((18, 35, 1, 2), dtype=np.int8)
    w[1, 34, 0, 1] = -1
    w[17, 0, 0, 0] = -1
    packed = pack_xnor_weights(w)
    assert packed.shape == (2, 4, 16)  # 2 groups, 2 taps x 2 words, 16 channels
    assert packed[0, 3, 1] == 1 << 2 and packed[1, 0, 1] == 1
    assert np.count_nonzero(packed) == 2


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_xnor_conv_equals_int8_formula_with_one_padding(build, shape):
    case = Case("xnor", *shape, seed=shape[0] * 7 + shape[1])
    np.testing.assert_array_equal(run_in_process(build, case), operands(case).expected)


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("bits", [(1, 1), (2, 2), (4, 4), (3, 2), (8, 1), (2, 4)], ids=lambda b: f"a{b[0]}w{b[1]}")
@pytest.mark.parametrize("shape", SHAPES[1:], ids=SHAPE_IDS[1:])
def test_bitserial_conv_equals_int8_formula(build, bits, shape):
    case = Case("bitserial", *shape, act_bits=bits[0], weight_bits=bits[1], in_zp=-128, seed=shape[0] + bits[0] * 10 + bits[1])
    np.testing.assert_array_equal(run_in_process(build, case), operands(case).expected)


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("case", RANDOM_CASES + EXTREME_CASES, ids=[c.name for c in RANDOM_CASES + EXTREME_CASES])
def test_random_and_extreme_shapes_are_exact(build, case):
    np.testing.assert_array_equal(run_in_process(build, case), operands(case).expected)


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_xnor_matches_reference_executor_pad_then_conv(build):
    """Sign-valued input, Pad(+1) then a VALID w1a1 conv in the reference executor."""
    rng = np.random.default_rng(5)
    cin, cout = 40, 6
    x = rng.choice(np.array([-1, 1], dtype=np.int8), size=(1, cin, 6, 6))
    wt = rng.choice(np.array([-1, 1], dtype=np.int8), size=(cout, cin, 3, 3))
    bias = rng.integers(-20, 20, size=cout).astype(np.int32)
    alpha = rng.uniform(0.5, 1.0, size=cout)
    g = Graph()
    sq = QuantParams(1.0, 0, qmin=-1, qmax=1)
    g.add_tensor(Tensor("x", x.shape, "int8", quant=sq))
    g.add_tensor(Tensor("xp", (1, cin, 8, 8), "int8", quant=sq))
    g.add_tensor(Tensor("w", wt.shape, "int8", quant=QuantParams(alpha, np.zeros(cout), axis=0), data=wt))
    g.add_tensor(Tensor("b", (cout,), "int32", quant=QuantParams(alpha, np.zeros(cout), axis=0), data=bias))
    g.add_tensor(Tensor("y", (1, cout, 6, 6), "int8", quant=QuantParams(0.4, -2)))
    pad = Node("pad", ops.Pad(pads=(1, 1, 1, 1), value=1.0), ["x"], "xp", precision="w1a1")
    conv = Node("conv", ops.Conv(pads=(0, 0, 0, 0)), ["xp", "w", "b"], "y", precision="w1a1")
    g.add_node(pad)
    g.add_node(conv)
    xp = INT_KERNELS["Pad"](pad, g, x)
    expected = INT_KERNELS["Conv"](conv, g, xp, wt, bias)
    mult, shift = multipliers(alpha / 0.4)
    q = QParams(0, -2, -128, 127)
    win = window((6, 6, cin), (6, 6, cout), (3, 3), (1, 1), (1, 1, 1, 1), (1, 1))
    scratch = np.zeros((8 * 8 + 9) * 2, dtype=np.uint32)
    out = np.zeros((6, 6, cout), dtype=np.int8)
    w_bits = np.ascontiguousarray(pack_xnor_weights(wt))
    xin = nchw_to_hwc(x)
    steps = np.ones(cout, dtype=np.int32)
    lowbit_library(build).ec_b1_conv2d_xnor(ptr(xin), ptr(w_bits), ptr(bias), ptr(steps), ptr(mult), ptr(shift), None,
                                            ctypes.byref(win), ctypes.byref(q), 0, ptr(scratch), ptr(out))
    np.testing.assert_array_equal(hwc_to_nchw(out), expected)


# ----------------------------------------------------------------------------------------------
# Packed words between binary layers (ec_b1.h): XNOR input and output, max pool, fully connected.

# Every flag combination over the fixed shapes: driven through the C driver (sanitizers, qemu).
PACKED_CASES = [Case("xnor", *shape, seed=40 + i, flags=1 + i % 3) for i, shape in enumerate(SHAPES)]
XNOR_CASES = [Case("xnor", *shape, seed=shape[0] * 7 + shape[1]) for shape in SHAPES] + \
    [c for c in RANDOM_CASES + EXTREME_CASES if c.kind == "xnor"]


def run_xnor_packed(build: str, case: Case, flags: int, limits: np.ndarray) -> list:
    """One call per sample with the given flags; packed inputs are the samples' sign bits."""
    o = operands(case)
    lib = lowbit_library(build)
    scratch = np.full(o.scratch_words, 0xA5A5A5A5, dtype=np.uint32)
    outs = []
    for b in range(case.batch):
        sample = o.x[b:b + 1]
        xin = packed_signs(sample, case.in_zp) if flags & EC_B1_IN_PACKED else nchw_to_hwc(sample)
        if flags & EC_B1_OUT_PACKED:
            out = np.full((o.win.out_h, o.win.out_w, (case.cout + 31) // 32), 0x5A5A5A5A, dtype=np.uint32)
        else:
            out = np.zeros((o.win.out_h, o.win.out_w, case.cout), dtype=np.int8)
        lib.ec_b1_conv2d_xnor(ptr(xin), ptr(o.weights), ptr(o.bias), ptr(o.steps), ptr(o.mult), ptr(o.shift),
                              ptr(limits), ctypes.byref(o.win), ctypes.byref(o.q), flags, ptr(scratch), ptr(out))
        outs.append(out)
    return outs


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("case", XNOR_CASES, ids=[c.name for c in XNOR_CASES])
def test_xnor_reads_packed_words_as_it_reads_int8_codes(build, case):
    limits = np.zeros(case.cout, dtype=np.int32)
    got = np.concatenate([hwc_to_nchw(out) for out in run_xnor_packed(build, case, EC_B1_IN_PACKED, limits)])
    np.testing.assert_array_equal(got, operands(case).expected)


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("case", XNOR_CASES, ids=[c.name for c in XNOR_CASES])
def test_xnor_writes_packed_words_from_popcount_limits(build, case):
    """Bit c of a pixel is set exactly where its popcount sum exceeds limits[c], for limits over the
    whole range (-1: always set, K: never), with int8 and packed inputs; unused bits stay 0."""
    o = operands(case)
    taps = case.cin * case.k[0] * case.k[1]
    rng = np.random.default_rng(case.seed)
    limits = rng.integers(-1, taps + 1, size=case.cout).astype(np.int32)
    limits[: min(2, case.cout)] = [-1, taps][: min(2, case.cout)]
    for flags in (EC_B1_OUT_PACKED, EC_B1_OUT_PACKED | EC_B1_IN_PACKED):
        for b, got in enumerate(run_xnor_packed(build, case, flags, limits)):
            minus = o.pops[b:b + 1] > limits.reshape(1, -1, 1, 1)
            np.testing.assert_array_equal(got, packed_signs(np.where(minus, -1, 1)), err_msg=f"flags {flags}")


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("channels", [1, 31, 32, 33, 70])
@pytest.mark.parametrize("window_case", [((2, 2), (2, 2), (0, 0, 0, 0), (1, 1)), ((3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
                                         ((2, 3), (1, 2), (0, 1, 1, 2), (1, 1)), ((2, 2), (1, 1), (0, 0, 0, 0), (2, 2))],
                         ids=["2x2s2", "3x3s2p1", "2x3_pads", "dilated"])
def test_packed_max_pool_is_the_max_of_signs(build, channels, window_case):
    """Pooling bits (AND of set = -1 bits over the window's input taps) equals max pooling the
    {-1, +1} values, padding skipped."""
    k, stride, pads, dilation = window_case
    rng = np.random.default_rng(channels)
    h, w = 7, 9
    values = rng.choice(np.array([-1, 1]), size=(1, channels, h, w), p=[0.7, 0.3])
    oh, ow = out_hw(h, w, k, stride, pads, dilation)
    padded = np.full((channels, h + pads[0] + pads[2], w + pads[1] + pads[3]), -2)
    padded[:, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = values[0]
    expected = np.full((1, channels, oh, ow), -2)
    for ky in range(k[0]):
        for kx in range(k[1]):
            y0, x0 = ky * dilation[0], kx * dilation[1]
            tap = padded[:, y0:y0 + stride[0] * (oh - 1) + 1:stride[0], x0:x0 + stride[1] * (ow - 1) + 1:stride[1]]
            expected[0] = np.maximum(expected[0], tap)
    words = (channels + 31) // 32
    out = np.full((oh, ow, words), 0xFFFFFFFF, dtype=np.uint32)
    win = window((h, w, channels), (oh, ow, channels), k, stride, pads, dilation)
    lowbit_library(build).ec_b1_maxpool2d(ptr(packed_signs(values)), ctypes.byref(win), ptr(out))
    np.testing.assert_array_equal(out, packed_signs(expected))


@pytest.mark.parametrize("build", sorted(BUILDS))
@pytest.mark.parametrize("pixels, channels, out_n", [(1, 5, 3), (49, 48, 64), (9, 33, 17), (4, 1100, 10), (1, 512, 1)])
def test_packed_fully_connected_equals_int8_formula(build, pixels, channels, out_n):
    rng = np.random.default_rng(pixels * channels)
    x = rng.choice(np.array([-1, 1]), size=(pixels, channels))
    w = rng.choice(np.array([-1, 1]), size=(out_n, pixels, channels))
    steps = rng.integers(1, 128, size=out_n).astype(np.int32)
    bias = rng.integers(-3000, 3000, size=out_n).astype(np.int32)
    acc = bias + steps * np.einsum("opc,pc->o", w, x)
    mult, shift = multipliers(rng.uniform(0.0001, 0.001, size=out_n))
    q = QParams(0, -3, -120, 127)
    expected = requant(acc.reshape(1, out_n, 1, 1), mult, shift, q.out_zp, q.act_min, q.act_max).reshape(-1)
    x_words = np.ascontiguousarray(pack_bits((x < 0).astype(np.uint64)))
    w_words = np.ascontiguousarray(pack_bits((w < 0).astype(np.uint64)).reshape(out_n, -1))
    out = np.zeros(out_n, dtype=np.int8)
    lowbit_library(build).ec_b1_fully_connected(ptr(x_words), ptr(w_words), ptr(bias), ptr(steps), ptr(mult),
                                                ptr(shift), pixels * channels, x_words.size, out_n, ctypes.byref(q),
                                                ptr(out))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("build", sorted(BUILDS))
def test_kernels_are_clean_under_asan_and_ubsan(build, tmp_path):
    """Every build of the kernels over the random cases plus the fixed shapes, run by the C driver
    compiled with ASan and UBSan (exact buffers from malloc: any read past them is reported)."""
    isa_dir, flags = BUILDS[build]
    binary = build_driver("cc", isa_dir, flags + SANITIZE, tmp_path / "driver")
    cases = RANDOM_CASES + EXTREME_CASES + [Case("xnor", *s, seed=i) for i, s in enumerate(SHAPES)] + PACKED_CASES
    data, expected = driver_input(cases)
    r = subprocess.run([str(binary)], input=data, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-4000:]
    check_driver_output(cases, expected, r.stdout)
