"""Calibration: the real range ``[lo, hi]`` of every activation tensor, from sample inputs.

The float graph runs in the torch executor (on a chosen device) over the calibration data in
batches and one observer per tensor summarises the values it sees (Krishnamoorthi 2018, §3):

* ``minmax``: the smallest and largest value seen;
* ``percentile``: the 0.01th and 99.99th percentiles (outliers clipped);
* ``mse``: the range ``[f*lo, f*hi]`` (``lo``/``hi`` the min and max, ``f`` searched over a grid in
  (0, 1]) whose 8-bit asymmetric quantize-dequantize has the least mean squared error.

Percentile and MSE observers keep a seeded random subsample of at most ``SAMPLE_CAP`` values per
tensor, so calibration memory is bounded and the result reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np
import torch

from ..errors import UserError
from ..ir import Graph
from .quantizers import asymmetric_params, round_half_away

SAMPLE_CAP = 1 << 20
PERCENTILE = 99.99
MSE_FACTORS = np.linspace(0.05, 1.0, 96)
DOREFA_CLIP_FACTORS = np.linspace(0.05, 1.0, 96)
DOREFA_SAMPLE_CAP = 1 << 16  # values per tensor for the clip search: its error curve is smooth
# A calibration batch keeps every activation of its samples at once: batches are cut so that they
# hold at most this many bytes (the digit-sized zoo nets keep their batch of 256; a 224x224
# MobileNetV2, about 28 MB of activations per sample, runs 38 at a time).
BATCH_BYTES = 1 << 30


@dataclass(frozen=True)
class Range:
    """Real range of a tensor's values, and their mean where it was observed (the threshold of a
    binarization of a tensor that is never negative is placed by it)."""

    lo: float
    hi: float
    mean: Optional[float] = None


def _quantization_mse(values: np.ndarray, lo: float, hi: float) -> float:
    p = asymmetric_params(lo, hi)
    s, zp = float(p.scale[0]), int(p.zero_point[0])
    q = np.clip(round_half_away(values / s) + zp, p.qmin, p.qmax)
    return float(np.mean((s * (q - zp) - values) ** 2))


def minmax_range(values: np.ndarray) -> Range:
    return Range(float(values.min()), float(values.max()))


def percentile_range(values: np.ndarray) -> Range:
    lo, hi = np.percentile(values, [100.0 - PERCENTILE, PERCENTILE])
    return Range(float(lo), float(hi))


def mse_range(values: np.ndarray) -> Range:
    full = minmax_range(values)
    errors = [_quantization_mse(values, f * full.lo, f * full.hi) for f in MSE_FACTORS]
    best = MSE_FACTORS[int(np.argmin(errors))]
    return Range(float(best * full.lo), float(best * full.hi))


OBSERVERS = {"minmax": minmax_range, "percentile": percentile_range, "mse": mse_range}


class _Samples:
    """Running min/max, plus (``keep``) a bounded, seeded subsample of one tensor's values."""

    def __init__(self, rng: np.random.Generator, keep: bool, cap: int = SAMPLE_CAP):
        self.rng = rng
        self.keep = keep
        self.cap = cap
        self.chunks = []
        self.count = 0
        self.lo, self.hi = np.inf, -np.inf
        self.total, self.seen = 0.0, 0

    @property
    def mean(self) -> float:
        return self.total / max(self.seen, 1)

    def add(self, values: np.ndarray) -> None:
        self.lo = min(self.lo, float(values.min()))
        self.hi = max(self.hi, float(values.max()))
        self.total += float(values.sum(dtype=np.float64))
        self.seen += values.size
        if not self.keep:
            return
        values = values.ravel().astype(np.float64)
        if values.size > self.cap:
            values = self.rng.choice(values, self.cap, replace=False)
        self.chunks.append(values)
        self.count += values.size
        if self.count > 2 * self.cap:
            merged = np.concatenate(self.chunks)
            self.chunks = [self.rng.choice(merged, self.cap, replace=False)]
            self.count = self.cap

    def values(self) -> np.ndarray:
        merged = np.concatenate(self.chunks)
        merged[0], merged[-1] = self.lo, self.hi  # the subsample keeps the true extremes
        return merged


def _batch_bytes_bound(graph: Graph, batch_size: int) -> int:
    """``batch_size``, cut so that a batch's activations fit ``BATCH_BYTES``."""
    per_sample = 4 * sum(int(np.prod(t.shape[1:])) for t in graph.tensors.values() if not t.is_constant)
    return max(1, min(batch_size, BATCH_BYTES // max(per_sample, 1)))


def _observe(graph: Graph, calib_x: np.ndarray, keep: bool, batch_size: int, seed: int, names=None,
             cap: int = SAMPLE_CAP, pre_grid: bool = False, device: str = "cpu") -> dict:
    """Run ``graph`` over ``calib_x`` on the torch ``device``: name -> :class:`_Samples` (at most
    ``cap`` values kept) of every activation, or of those in ``names`` when given. ``pre_grid``: of
    a quantized graph, the values its nodes compute before their output grid
    (``GraphModule.pre_grid``)."""
    calib_x = np.asarray(calib_x, dtype=np.float32)
    if calib_x.ndim == 0 or len(calib_x) == 0:
        raise UserError("calibration data is empty")
    from ..torchexec import build_module  # the torch executor imports this package: import late

    module = build_module(graph).to(device).eval()
    rng = np.random.default_rng(seed)
    samples = {}
    batch_size = _batch_bytes_bound(graph, batch_size)
    with torch.no_grad():
        for start in range(0, len(calib_x), batch_size):
            module.pre_grid = {} if pre_grid else None
            values = module(torch.from_numpy(calib_x[start:start + batch_size]).to(device), keep=True)
            values = module.pre_grid if pre_grid else values
            for name, value in values.items():
                if graph.tensors[name].is_constant or (names is not None and name not in names):
                    continue
                samples.setdefault(name, _Samples(rng, keep, cap)).add(value.cpu().numpy())
    return samples


def calibrate(graph: Graph, calib_x: np.ndarray, method: str = "minmax", batch_size: int = 256,
              seed: int = 0, names: Optional[set] = None, device: str = "cpu") -> dict:
    """Range of every float activation tensor of ``graph`` (inputs included), or of those in
    ``names``: name -> Range."""
    if method not in OBSERVERS:
        raise UserError(f"unknown calibration method {method!r}: use {', '.join(OBSERVERS)}")
    return _ranges(_observe(graph, calib_x, method != "minmax", batch_size, seed, names, device=device), method)


def quantized_ranges(quantized: Graph, calib_x: np.ndarray, names: set, method: str = "minmax",
                     batch_size: int = 256, seed: int = 0, device: str = "cpu") -> dict:
    """Range of each tensor of ``names`` as the quantized graph computes it: from its quantized
    inputs and weights, before its own output grid (fused clamps applied). A binary layer's output
    is ``alpha * (sum of +-1 products)``, nothing like the float layer's, and its readers' ranges
    follow it."""
    return _ranges(_observe(quantized, calib_x, method != "minmax", batch_size, seed, names, pre_grid=True,
                            device=device), method)


def _ranges(samples: dict, method: str) -> dict:
    if method == "minmax":
        return {name: Range(s.lo, s.hi, s.mean) for name, s in samples.items()}
    return {name: replace(OBSERVERS[method](s.values()), mean=s.mean) for name, s in samples.items()}


def dorefa_clip(values: np.ndarray, act_bits: int) -> float:
    """Top ``c`` of the DoReFa activation grid with the least squared error on ``values``.

    The grid is ``clip(x, 0, c)`` on ``n + 1`` levels (``n = 2^M - 1``):
    ``Q(x) = c/n * clip(round(x * n / c), 0, n)``, round half away from zero. ``c`` is searched as
    a fraction ``f`` of ``max(values)`` over ``DOREFA_CLIP_FACTORS``: at 2 to 4 bits the top of
    the range leaves most of a ReLU output on the lowest levels, and clipping the tail costs less
    (Banner et al. 2019, ACIQ; the same criterion as the ``mse`` observer).
    """
    values = np.asarray(values, np.float64)
    top = float(values.max())
    if top <= 0.0:
        return top
    levels = (1 << act_bits) - 1
    errors = []
    for f in DOREFA_CLIP_FACTORS:
        step = f * top / levels
        q = np.clip(round_half_away(values / step), 0, levels)
        errors.append(float(np.mean((q * step - values) ** 2)))
    return float(DOREFA_CLIP_FACTORS[int(np.argmin(errors))] * top)


def dorefa_clips(graph: Graph, calib_x: np.ndarray, act_bits: dict, batch_size: int = 256, seed: int = 0,
                 device: str = "cpu") -> dict:
    """:func:`dorefa_clip` of each activation of ``act_bits`` (name -> M) over ``calib_x``."""
    samples = _observe(graph, calib_x, True, batch_size, seed, set(act_bits), DOREFA_SAMPLE_CAP, device=device)
    return {name: dorefa_clip(samples[name].values(), bits) for name, bits in act_bits.items()}
