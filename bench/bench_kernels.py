"""Benchmark: int8 convolution variants (sliding window vs im2col vs 1x1) and the low-bit kernels
(XNOR, bit-serial w2a2) per layer shape, single thread, on this host's best kernel set.

    python bench/bench_kernels.py [--isa x86|portable] [--repeat 30]

Kernels are compiled from kernels_c into one shared library and called through ctypes on random
data; the median of --repeat calls is reported in ms (ctypes overhead is about a microsecond).
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeconv.kernels.isa import host_isa, host_kernel_set
from edgeconv.kernels.packing import im2col_scratch_bytes, pack_bitserial_weights, pack_gemm_weights, pack_xnor_weights
from edgeconv.kernels.registry import KERNELS, sources_for
from edgeconv.quant.fixedpoint import quantize_multipliers
from edgeconv.resources import kernels_dir

# (C_in, H, W, C_out, k, stride)
SHAPES = [(3, 32, 32, 16, 3, 1), (16, 32, 32, 16, 3, 1), (32, 16, 16, 32, 3, 1), (64, 16, 16, 64, 3, 1),
          (128, 8, 8, 128, 3, 1), (256, 8, 8, 256, 3, 1), (64, 16, 16, 128, 1, 1)]

WINDOW_FIELDS = ["in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
                 "pad_top", "pad_left", "pad_bottom", "pad_right", "dil_h", "dil_w", "groups"]


class Window(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in WINDOW_FIELDS]


class QParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("in_zp", "out_zp", "act_min", "act_max")]


def library(isa: str) -> ctypes.CDLL:
    build = Path(tempfile.mkdtemp(prefix="ec_bench_"))
    out = build / "libec.so"
    sources = [str(s) for s in sources_for([k.name for k in KERNELS], isa)]
    subprocess.run(["cc", "-std=c99", "-O2", *(host_kernel_set().flags if isa == "x86" else ()), "-shared", "-fPIC", f"-I{kernels_dir() / 'include'}",
                    *sources, "-lm", "-o", str(out)], check=True)
    return ctypes.CDLL(str(out))


def p(a: np.ndarray):
    return a.ctypes.data_as(ctypes.c_void_p)


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def bench_shape(lib, shape, repeat: int) -> dict:
    cin, h, w, cout, k, stride = shape
    pad = k // 2
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    rng = np.random.default_rng(0)
    win = Window(h, w, cin, oh, ow, cout, k, k, stride, stride, pad, pad, pad, pad, 1, 1, 1)
    q = QParams(3, -1, -128, 127)
    mult, shift = (a.astype(np.int32) for a in quantize_multipliers(rng.uniform(1e-4, 1e-3, cout)))
    bias = rng.integers(-100, 100, cout).astype(np.int32)
    x = rng.integers(-128, 128, (h, w, cin)).astype(np.int8)
    wt = rng.integers(-127, 128, (cout, cin, k, k)).astype(np.int8)
    out = np.zeros((oh, ow, cout), np.int8)
    ohwi = np.ascontiguousarray(np.moveaxis(wt, 1, -1).reshape(cout, -1))
    ext = ((oh - 1) * stride + k) * ((ow - 1) * stride + k)
    words = (cin + 31) // 32
    common = (p(bias), p(mult), p(shift), ctypes.byref(win), ctypes.byref(q))
    row = {"shape": f"{cin}x{h}x{w} -> {cout}, {k}x{k} s{stride}", "macs": oh * ow * cout * cin * k * k}
    row["sliding-window"] = median_ms(lambda: lib.ec_s8_conv2d_slidingwin(p(x), p(ohwi), *common, p(out)), repeat)
    packed = np.ascontiguousarray(pack_gemm_weights(ohwi))
    wsum = ohwi.astype(np.int32).sum(axis=1)
    gemm_common = (p(bias), p(wsum), p(mult), p(shift), ctypes.byref(win), ctypes.byref(q))
    cols = np.zeros(max(im2col_scratch_bytes(cin, k, k, oh, ow, cout), 1), np.int8)
    row["im2col"] = median_ms(lambda: lib.ec_s8_conv2d_im2col(p(x), p(packed), *gemm_common, p(cols), p(out)), repeat)
    if k == 1 and stride == 1:
        win.pad_top = win.pad_left = win.pad_bottom = win.pad_right = 0
        row["1x1"] = median_ms(lambda: lib.ec_s8_conv2d_1x1(p(x), p(packed), *gemm_common, p(out)), repeat)
    signs = np.where(rng.random((h, w, cin)) < 0.5, -1, 1).astype(np.int8)
    wbits = np.ascontiguousarray(pack_xnor_weights(np.where(wt < 0, -1, 1).astype(np.int8)))
    scratch = np.zeros((ext + k * k) * words * 2, np.uint32)  # room for 2 activation planes
    q0 = QParams(0, -1, -128, 127)
    steps = np.ones(cout, np.int32)
    row["xnor"] = median_ms(lambda: lib.ec_b1_conv2d_xnor(p(signs), p(wbits), p(bias), p(steps), p(mult), p(shift), None,
                                                          ctypes.byref(win), ctypes.byref(q0), 0, p(scratch), p(out)),
                            repeat)
    codes = (rng.integers(0, 4, (h, w, cin)) - 128).astype(np.int8)
    w2 = (2 * rng.integers(0, 4, (cout, cin, k, k)) - 3).astype(np.int8)
    planes = np.ascontiguousarray(pack_bitserial_weights(w2, 2))
    qb = QParams(-128, -1, -128, 127)
    row["bit-serial w2a2"] = median_ms(lambda: lib.ec_s8_conv2d_bitserial(p(codes), p(planes), p(bias), p(steps), p(mult),
                                                                          p(shift), ctypes.byref(win), ctypes.byref(qb),
                                                                          2, 2, p(scratch), p(out)), repeat)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--isa", default=host_isa())
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    lib = library(args.isa)
    cols = ["sliding-window", "im2col", "1x1", "xnor", "bit-serial w2a2"]
    print(f"isa: {args.isa}; median ms per call")
    print("| layer | MMACs | " + " | ".join(cols) + " | best int8 / xnor | best int8 GMAC/s |")
    print("|---|---|" + "---|" * (len(cols) + 2))
    for shape in SHAPES:
        r = bench_shape(lib, shape, args.repeat)
        best = min(r[c] for c in ("sliding-window", "im2col", "1x1") if c in r)
        cells = " | ".join(f"{r[c]:.3f}" if c in r else "-" for c in cols)
        print(f"| {r['shape']} | {r['macs'] / 1e6:.1f} | {cells} | {best / r['xnor']:.2f} | {r['macs'] / best / 1e6:.1f} |")


if __name__ == "__main__":
    main()
