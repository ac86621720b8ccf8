"""Benchmark: the int8 GEMM-shaped kernels (``ec_s8_conv2d_1x1``, ``ec_s8_conv2d_im2col``,
``ec_s8_fully_connected``) built three ways on this machine, GMAC/s per layer shape, single thread:

- ``portable``: kernels_c/portable;
- ``avx2``: kernels_c/x86 compiled with the AVX2 flags only (``isa.X86_AVX2_FLAGS``), the build an
  AVX2 machine without AVX-512 gets;
- ``avx512-vnni``: kernels_c/x86 at that level with the host's extensions, when this CPU has AVX-512 VNNI;
- ``avx512-amx``: the same with the AMX tiles (``ec_x86_amx.h``), when this CPU has AMX-INT8.

    python bench/bench_gemm_x86.py [--builds portable,avx2,avx512-vnni,avx512-amx] [--repeat 7] [--shapes NAME,...]

Shapes: every GEMM-shaped layer of MLPerf Tiny IC ResNet-8 (``resnet8-*``), the fully connected
layers of the MLPerf Tiny AD autoencoder (``ad-*``: a call of one or two microseconds, about one of
them the ctypes overhead), the zoo's resnet8 stem and first block, the pointwise, stem
and classifier layers of MobileNetV2 at 224x224 (``mbv2-*``), stems of a grayscale camera's
224x224 frames (``gray-*``) and the stem and one 3x3 layer of each stage of ResNet-18 at 224x224
(``resnet18-*``). Each figure is the best of
``--repeat`` rounds, a round timing enough back-to-back calls through ctypes to last about 20 ms
(a call costs about a microsecond of ctypes overhead, included) in the thread's CPU time, so that
time the thread spends descheduled on a busy machine does not count. The builds run interleaved, shape
by shape, so a change in the machine's load touches them alike; their outputs are compared byte for
byte before timing (the kernel tests in tests/kernels/ are the real check).
"""

from __future__ import annotations

import argparse
import ctypes
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeconv.kernels.isa import X86_AVX2_FLAGS, host_cpu_flags, host_x86_levels, x86_kernel_set
from edgeconv.kernels.packing import im2col_scratch_bytes, im2col_weight_rows, pack_gemm_weights
from edgeconv.kernels.registry import sources_for
from edgeconv.quant.fixedpoint import quantize_multipliers
from edgeconv.resources import kernels_dir

KERNELS = ("ec_s8_conv2d_1x1", "ec_s8_conv2d_im2col", "ec_s8_fully_connected")

# name -> (kernel, C_in, H, W, C_out, k, stride, pad); fully connected layers have H = W = k = 1.
SHAPES = {
    "resnet8-stem 3x3 3->16 32x32": ("im2col", 3, 32, 32, 16, 3, 1, 1),
    "resnet8-b1 3x3 16->16 32x32": ("im2col", 16, 32, 32, 16, 3, 1, 1),
    "resnet8-b2a 3x3 s2 16->32 32x32": ("im2col", 16, 32, 32, 32, 3, 2, 1),
    "resnet8-b2b 3x3 32->32 16x16": ("im2col", 32, 16, 16, 32, 3, 1, 1),
    "resnet8-b2s 1x1 s2 16->32 32x32": ("im2col", 16, 32, 32, 32, 1, 2, 0),
    "resnet8-b3a 3x3 s2 32->64 16x16": ("im2col", 32, 16, 16, 64, 3, 2, 1),
    "resnet8-b3b 3x3 64->64 8x8": ("im2col", 64, 8, 8, 64, 3, 1, 1),
    "resnet8-b3s 1x1 s2 32->64 16x16": ("im2col", 32, 16, 16, 64, 1, 2, 0),
    "resnet8-fc 64->10": ("fc", 64, 1, 1, 10, 1, 1, 0),
    "ad-fc 640->128": ("fc", 640, 1, 1, 128, 1, 1, 0),
    "ad-fc 128->128": ("fc", 128, 1, 1, 128, 1, 1, 0),
    "ad-fc 128->640": ("fc", 128, 1, 1, 640, 1, 1, 0),
    "zoo-resnet8-stem 3x3 s2 1->8 28x28": ("im2col", 1, 28, 28, 8, 3, 2, 1),
    "zoo-resnet8-b1 3x3 8->8 14x14": ("im2col", 8, 14, 14, 8, 3, 1, 1),
    "narrow 3x3 8->8 56x56": ("im2col", 8, 56, 56, 8, 3, 1, 1),
    "mbv2-stem 3x3 s2 3->32 224x224": ("im2col", 3, 224, 224, 32, 3, 2, 1),
    "gray-stem 3x3 s2 1->32 224x224": ("im2col", 1, 224, 224, 32, 3, 2, 1),
    "gray-stem 3x3 1->16 224x224": ("im2col", 1, 224, 224, 16, 3, 1, 1),
    "mbv2-1x1 32->16 112x112": ("1x1", 32, 112, 112, 16, 1, 1, 0),
    "mbv2-1x1 16->96 112x112": ("1x1", 16, 112, 112, 96, 1, 1, 0),
    "mbv2-1x1 96->24 56x56": ("1x1", 96, 56, 56, 24, 1, 1, 0),
    "mbv2-1x1 24->144 56x56": ("1x1", 24, 56, 56, 144, 1, 1, 0),
    "mbv2-1x1 144->24 56x56": ("1x1", 144, 56, 56, 24, 1, 1, 0),
    "mbv2-1x1 192->40 28x28": ("1x1", 192, 28, 28, 40, 1, 1, 0),
    "mbv2-1x1 192->64 14x14": ("1x1", 192, 14, 14, 64, 1, 1, 0),
    "mbv2-1x1 384->96 14x14": ("1x1", 384, 14, 14, 96, 1, 1, 0),
    "mbv2-1x1 960->160 7x7": ("1x1", 960, 7, 7, 160, 1, 1, 0),
    "mbv2-1x1 320->1280 7x7": ("1x1", 320, 7, 7, 1280, 1, 1, 0),
    "mbv2-fc 1280->1000": ("fc", 1280, 1, 1, 1000, 1, 1, 0),
    "resnet18-stem 7x7 s2 3->64 224x224": ("im2col", 3, 224, 224, 64, 7, 2, 3),
    "resnet18-s1 3x3 64->64 56x56": ("im2col", 64, 56, 56, 64, 3, 1, 1),
    "resnet18-s2 3x3 128->128 28x28": ("im2col", 128, 28, 28, 128, 3, 1, 1),
    "resnet18-s3 3x3 256->256 14x14": ("im2col", 256, 14, 14, 256, 3, 1, 1),
    "resnet18-s4 3x3 512->512 7x7": ("im2col", 512, 7, 7, 512, 3, 1, 1),
}

WINDOW_FIELDS = ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
                 "pad_top", "pad_left", "pad_bottom", "pad_right", "dil_h", "dil_w", "groups")
ROUND_SECONDS = 0.02


class Window(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in WINDOW_FIELDS]


class QParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("in_zp", "out_zp", "act_min", "act_max")]


def build_flags() -> dict:
    """The builds this machine runs: name -> (kernels_c folder, compiler flags)."""
    builds = {"portable": ("portable", ()), "avx2": ("x86", X86_AVX2_FLAGS)}
    for level in host_x86_levels():
        if level in ("avx512-vnni", "avx512-amx"):
            builds[level] = ("x86", x86_kernel_set(level, host_cpu_flags()).flags)
    return builds


def library(isa: str, flags: tuple) -> ctypes.CDLL:
    out = Path(tempfile.mkdtemp(prefix="ec_bench_gemm_")) / "libec.so"
    sources = [str(s) for s in sources_for(KERNELS, isa)]
    subprocess.run(["cc", "-std=c99", "-O2", *flags, "-shared", "-fPIC", f"-I{kernels_dir() / 'include'}",
                    *sources, "-lm", "-o", str(out)], check=True)
    return ctypes.CDLL(str(out))


def p(a: np.ndarray):
    return a.ctypes.data_as(ctypes.c_void_p)


class Layer:
    """Random operands of one shape, packed as the code generator packs them, and a call per build."""

    def __init__(self, shape: tuple):
        kind, cin, h, w, cout, k, stride, pad = shape
        rng = np.random.default_rng(cin * 1000 + cout)
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        self.kind, self.macs = kind, oh * ow * cout * cin * k * k
        self.win = Window(h, w, cin, oh, ow, cout, k, k, stride, stride, pad, pad, pad, pad, 1, 1, 1)
        self.q = QParams(-3, 5, -128, 127)
        mult, shift = quantize_multipliers(rng.uniform(1e-4, 1e-3, cout) / np.sqrt(cin * k * k / 16))
        self.mult, self.shift = mult.astype(np.int32), shift.astype(np.int32)
        self.bias = rng.integers(-2000, 2000, cout).astype(np.int32)
        self.x = rng.integers(-128, 128, (h, w, cin)).astype(np.int8)
        rows = rng.integers(-127, 128, (cout, k * k * cin)).astype(np.int8)
        self.wsum = rows.astype(np.int32).sum(axis=1).astype(np.int32)
        if kind == "im2col":
            rows = im2col_weight_rows(rows, cin, k, k, 1)
        self.packed = np.ascontiguousarray(pack_gemm_weights(rows))
        self.scratch = np.zeros(max(im2col_scratch_bytes(cin, k, k, oh, ow, cout), 1), np.int8)
        self.out = np.zeros((oh, ow, cout), np.int8)

    def call(self, lib: ctypes.CDLL):
        head = (p(self.x), p(self.packed), p(self.bias), p(self.wsum), p(self.mult), p(self.shift))
        if self.kind == "fc":
            fn, args = lib.ec_s8_fully_connected, (*head, ctypes.c_int32(self.win.in_c),
                                                   ctypes.c_int32(self.win.out_c), ctypes.byref(self.q), p(self.out))
        elif self.kind == "1x1":
            fn, args = lib.ec_s8_conv2d_1x1, (*head, ctypes.byref(self.win), ctypes.byref(self.q), p(self.out))
        else:
            fn, args = lib.ec_s8_conv2d_im2col, (*head, ctypes.byref(self.win), ctypes.byref(self.q), p(self.scratch),
                                                 p(self.out))
        return lambda: fn(*args)


def seconds_per_call(fn, rounds: int) -> float:
    """The best over ``rounds`` rounds of the mean time of one call, a round lasting ROUND_SECONDS."""
    fn()
    start, calls = time.thread_time(), 0
    while time.thread_time() - start < ROUND_SECONDS / 4:
        fn()
        calls += 1
    calls = max(1, int(calls * 4))
    best = float("inf")
    for _ in range(rounds):
        t0 = time.thread_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.thread_time() - t0) / calls)
    return best


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", default=",".join(build_flags()))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--shapes", default="", help="comma-separated substrings of shape names (default: all)")
    args = parser.parse_args()
    flags = build_flags()
    names = [b for b in args.builds.split(",") if b]
    unknown = [b for b in names if b not in flags]
    if unknown:
        raise SystemExit(f"build {unknown[0]!r} is not available on this machine (available: {', '.join(flags)})")
    libs = {b: library(*flags[b]) for b in names}
    wanted = [s for s in args.shapes.split(",") if s]
    print(f"CPU: {cpu_name()}; single thread; GMAC/s, best of {args.repeat} rounds")
    print("| layer | MMAC | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for name, shape in SHAPES.items():
        if wanted and not any(w in name for w in wanted):
            continue
        layer = Layer(shape)
        outputs = {}
        for b in names:
            layer.call(libs[b])()
            outputs[b] = layer.out.copy()
        first = outputs[names[0]]
        for b in names[1:]:
            if not np.array_equal(outputs[b], first):
                raise SystemExit(f"{name}: build {b} disagrees with {names[0]}")
        secs = {b: seconds_per_call(layer.call(libs[b]), args.repeat) for b in names}
        cells = " | ".join(f"{layer.macs / secs[b] / 1e9:.1f}" for b in names)
        print(f"| {name} | {layer.macs / 1e6:.2f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
