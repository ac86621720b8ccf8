"""Benchmark: the int8 depthwise 3x3 kernel on MobileNetV2-224's depthwise shapes, per x86 level.

    python bench/bench_depthwise.py [--levels avx2,avx512-vnni] [--rounds 30]

For each level (default: the CPU's and, under AVX-512, avx2 too; ``common.bench_levels``) the
kernels are compiled as ``bench_kernels.py`` compiles them, with the level forced, and
``ec_s8_dwconv2d_3x3`` is called on each shape (random data, TFLite SAME padding: at stride 2 one
row and column at the bottom and right); the best of ``--rounds`` calls per shape, the levels
interleaved round by round, is printed in microseconds with its GMAC/s. Every level's output bytes
are checked against the portable kernel's before timing.
"""

from __future__ import annotations

import argparse
import ctypes
import time

import numpy as np

from bench_kernels import QParams, Window, library, p  # noqa: I001
from common import bench_levels, forced_level, load_note, machine

# MobileNetV2-224's depthwise layers (width 1.0): (H = W, channels, stride)
SHAPES = [(112, 32, 1), (112, 96, 2), (56, 144, 1), (56, 144, 2), (28, 192, 1), (28, 192, 2), (14, 384, 1),
          (14, 576, 1), (14, 576, 2), (7, 960, 1)]


def shape_call(lib, shape, rng):
    """A no-argument call of the 3x3 kernel on one shape, and its output array and MACs."""
    hw, c, stride = shape
    out_hw = -(-hw // stride)
    pad = 1 if stride == 1 else 0
    win = Window(hw, hw, c, out_hw, out_hw, c, 3, 3, stride, stride, pad, pad, 1, 1, 1, 1, c)
    q = QParams(-3, 5, -128, 127)
    x = rng.integers(-128, 128, (hw, hw, c)).astype(np.int8)
    w = rng.integers(-127, 128, (3, 3, c)).astype(np.int8)
    bias = rng.integers(-10000, 10000, c).astype(np.int32)
    mult = rng.integers(1 << 30, (1 << 31) - 1, c).astype(np.int32)
    shift = -rng.integers(7, 10, c).astype(np.int32)
    out = np.zeros((out_hw, out_hw, c), np.int8)
    keep = (win, q, x, w, bias, mult, shift, out)

    def call():
        lib.ec_s8_dwconv2d_3x3(p(x), p(w), p(bias), p(mult), p(shift), ctypes.byref(win), ctypes.byref(q), p(out))
        return keep

    return call, out, 9 * out_hw * out_hw * c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=None, help="comma-separated x86 levels (default: as bench_levels.py)")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    levels = args.levels.split(",") if args.levels else bench_levels()
    libs = {"portable": library("portable")}
    for level in levels:
        with forced_level(level):
            libs[level] = library("x86")
    print(load_note(machine()))
    print("| shape | MMACs | " + " | ".join(f"{level} µs | GMAC/s" for level in levels) + " |")
    print("|---|---|" + "---|---|" * len(levels))
    total = {level: 0.0 for level in levels}
    total_macs = 0
    for shape in SHAPES:
        calls = {}
        for name, lib in libs.items():
            calls[name] = shape_call(lib, shape, np.random.default_rng(sum(shape)))
            calls[name][0]()
        for level in levels:
            if not np.array_equal(calls[level][1], calls["portable"][1]):
                raise SystemExit(f"level {level}: ec_s8_dwconv2d_3x3 differs from the portable kernel on {shape}")
        best = {level: float("inf") for level in levels}
        for _ in range(args.rounds):
            for level in levels:
                t0 = time.perf_counter()
                calls[level][0]()
                best[level] = min(best[level], time.perf_counter() - t0)
        macs = calls[levels[0]][2] if levels else 0
        total_macs += macs
        cells = []
        for level in levels:
            total[level] += best[level]
            cells.append(f"{best[level] * 1e6:.1f} | {macs / best[level] * 1e-9:.1f}")
        hw, c, stride = shape
        print(f"| {hw}x{hw}x{c} s{stride} | {macs / 1e6:.1f} | " + " | ".join(cells) + " |")
    cells = [f"{total[level] * 1e6:.1f} | {total_macs / total[level] * 1e-9:.1f}" for level in levels]
    print(f"| all | {total_macs / 1e6:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
