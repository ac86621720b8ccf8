"""How a kernel's call is cut into tasks for the thread pool of the generated C
(``kernels_c/include/ec_parallel.h``), without changing one output byte.

Each task writes a contiguous part of the layer's output with the same kernel code, reading the
inputs that part needs, so every output value is computed exactly as in one call:

- ``rows``: output rows (window ops: convolutions, depthwise, pooling; broadcasting element-wise
  ops over H x W x C); a task reads the input rows its windows cover, padding included where its
  rows touch it;
- ``positions``: output positions (H * W) of a pointwise 1x1 layer (the rows of its GEMM), and
  the rows of a softmax;
- ``channels``: output channels of a fully connected layer (its one output row), in granules of
  the packed weight block so a task starts on a block;
- ``elements``: the flat elements of a per-element op.

``min_work`` is the least work a task gets: MACs for weighted kernels, output elements times the
window for pools, elements otherwise. Handing a layer to the pool and waiting for it costs one to
a few microseconds (a cache-line round trip per worker; far more when a worker has lost its core
to another process), so a task should hold ten times that: a smaller layer stays on one thread.
The figures are assumptions: 262144 MACs take about 45 µs on a Cortex-A72 core at its int8 NEON
rate (8 MACs per cycle at 1.5 GHz, half of it reached) and 3-10 µs on an x86 core with AVX-512
VNNI; 32768 elements of a table lookup, requantization or pooling window about 10-30 µs on the
A72.

The number of tasks is decided at generation time per layer (``task_count``) from the thread
count the model is generated for; at run time a pool with fewer threads runs fewer, larger tasks
(``ec_share``). The latency model asks the same function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = ("rows", "positions", "channels", "elements")


@dataclass(frozen=True)
class Split:
    kind: str
    min_work: int
    granule: int = 1   # a task's first unit is a multiple of this (packed weight blocks)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown split kind {self.kind!r}")

    def describe(self) -> str:
        unit = {"rows": "output rows", "positions": "output positions", "channels": "output channels",
                "elements": "elements"}[self.kind]
        return unit + (f" in blocks of {self.granule}" if self.granule > 1 else "")


# The split of each family of kernels (registry entries name one of these).
WEIGHTED_ROWS = Split("rows", 262144)
POINTWISE_POSITIONS = Split("positions", 262144)
GEMM_CHANNELS = Split("channels", 262144, granule=16)
WINDOW_ROWS = Split("rows", 32768)
ELEMENT_ROWS = Split("rows", 32768)
ELEMENTS = Split("elements", 32768, granule=64)
SOFTMAX_ROWS = Split("positions", 32768)
RESIZE_ROWS = Split("rows", 32768)  # work: output elements times the 4 taps blended


def units(split: Split, out_shape: tuple) -> int:
    """How many units of ``split.kind`` an IR output of ``out_shape`` (N, C, *spatial) has."""
    spatial = tuple(out_shape[2:])
    if split.kind == "rows":
        return spatial[-2] if len(spatial) == 2 else 1
    if split.kind == "positions":
        return math.prod(spatial)
    if split.kind == "channels":
        return out_shape[1]
    return math.prod(out_shape[1:])


def task_count(split, out_shape: tuple, work: int, threads: int, min_work=None) -> int:
    """Tasks a layer is cut into for ``threads`` threads: at most one per thread, per granule of
    units, and per ``min_work`` of work (the split's own unless given); 1 for a kernel without a
    split."""
    if split is None or threads <= 1:
        return 1
    granules = -(-units(split, out_shape) // split.granule)
    return max(1, min(threads, granules, work // (split.min_work if min_work is None else max(1, min_work))))
