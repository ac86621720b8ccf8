"""Calibration: the real range ``[lo, hi]`` of every activation tensor, from sample inputs.

The float graph runs in the torch executor over the calibration batch and one observer per
tensor summarises the values it sees (Krishnamoorthi 2018, §3):

* ``minmax``: the smallest and largest value seen;
* ``percentile``: the 0.01th and 99.99th percentiles (outliers clipped);
* ``mse``: the range ``[f*lo, f*hi]`` (``lo``/``hi`` the min and max, ``f`` searched over a grid in
  (0, 1]) whose 8-bit asymmetric quantize-dequantize has the least mean squared error.

Percentile and MSE observers keep a seeded random subsample of at most ``SAMPLE_CAP`` values per
tensor, so calibration memory is bounded and the result reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError
from ..ir import Graph
from .quantizers import asymmetric_params, round_half_away

SAMPLE_CAP = 1 << 20
PERCENTILE = 99.99
MSE_FACTORS = np.linspace(0.05, 1.0, 96)


@dataclass(frozen=True)
class Range:
    """Real range of a tensor's values."""

    lo: float
    hi: float


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

    def __init__(self, rng: np.random.Generator, keep: bool):
        self.rng = rng
        self.keep = keep
        self.chunks = []
        self.count = 0
        self.lo, self.hi = np.inf, -np.inf

    def add(self, values: np.ndarray) -> None:
        self.lo = min(self.lo, float(values.min()))
        self.hi = max(self.hi, float(values.max()))
        if not self.keep:
            return
        values = values.ravel().astype(np.float64)
        if values.size > SAMPLE_CAP:
            values = self.rng.choice(values, SAMPLE_CAP, replace=False)
        self.chunks.append(values)
        self.count += values.size
        if self.count > 2 * SAMPLE_CAP:
            merged = np.concatenate(self.chunks)
            self.chunks = [self.rng.choice(merged, SAMPLE_CAP, replace=False)]
            self.count = SAMPLE_CAP

    def values(self) -> np.ndarray:
        merged = np.concatenate(self.chunks)
        merged[0], merged[-1] = self.lo, self.hi  # the subsample keeps the true extremes
        return merged


def calibrate(graph: Graph, calib_x: np.ndarray, method: str = "minmax", batch_size: int = 256,
              seed: int = 0) -> dict:
    """Range of every float activation tensor of ``graph`` (inputs included): name -> Range."""
    if method not in OBSERVERS:
        raise UserError(f"unknown calibration method {method!r}: use {', '.join(OBSERVERS)}")
    calib_x = np.asarray(calib_x, dtype=np.float32)
    if calib_x.ndim == 0 or len(calib_x) == 0:
        raise UserError("calibration data is empty")
    from ..torchexec import build_module  # the torch executor imports this package: import late

    module = build_module(graph).eval()
    rng = np.random.default_rng(seed)
    samples = {}
    with torch.no_grad():
        for start in range(0, len(calib_x), batch_size):
            values = module(torch.from_numpy(calib_x[start:start + batch_size]), keep=True)
            for name, value in values.items():
                if graph.tensors[name].is_constant:
                    continue
                samples.setdefault(name, _Samples(rng, method != "minmax")).add(value.numpy())
    observer = OBSERVERS[method]
    if method == "minmax":
        return {name: Range(s.lo, s.hi) for name, s in samples.items()}
    return {name: observer(s.values()) for name, s in samples.items()}
