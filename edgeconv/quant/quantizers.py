"""Quantizers: how real weights and activations map onto integer grids (DESIGN §2).

Each weight quantizer is a small class of declared parts with two views of the same grid:
``integer(w)`` gives the stored int8 values and per-channel scales (used to build the integer
graph), ``fake(w)`` the real values ``scale * q`` as a differentiable torch tensor (used for
quantization-aware training, with a straight-through estimator: the backward pass treats the
rounding as the identity). These are written here rather than with Brevitas so the grid, the
scale rule and the rounding are exactly the ones the integer graph stores.

Rounding is half away from zero everywhere (``std::round``, as TFLite's converter rounds).

Weight grids (``w`` one output channel or the whole layer, as stated):

* int8: ``s_c = max|w_c| / 127``, ``q = clip(round(w / s_c), -127, 127)``; per channel.
* DoReFa K bits, ``n = 2^K - 1``: one layer scale ``s`` (the MSE-best clipping of ``max|w|``,
  see the class; DoReFa-Net normalises with ``tanh(w) / max|tanh w|`` instead, but here the layer
  carries a scale once BatchNorm is folded in, so weight magnitudes matter),
  ``i = clip(round((w/s + 1)/2 * n), 0, n)``, ``q = 2i - n`` (odd integers in ``[-n, n]``), real
  ``q * s/n``. The stored scale is ``s/n``, repeated per channel.
* XNOR: ``q = +1`` where ``w >= 0`` else ``-1``, ``alpha_c = mean|w_c|``, real ``alpha_c * q``.

Activation grids: int8 asymmetric from a calibrated range (real 0 exactly representable), the
DoReFa grid ``clip(x, 0, 1)`` on ``2^M`` levels, the binary grid ``{-1, +1}``, and the fixed
probability grid of Softmax / Logistic outputs (scale 1/256, zero point -128).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..ir import QuantParams

# Smallest scale given to an all-zero channel or range (any positive value represents zero).
_TINY_SCALE = 1e-8


def round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def round_half_away_torch(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round half away from zero forward, identity backward (straight-through estimator)."""
    return x + (round_half_away_torch(x) - x).detach()


def _channel_view(w, size: int):
    return w.reshape(size, -1)


@dataclass(frozen=True)
class IntegerWeight:
    """Stored form of a quantized weight: int8 values and one float scale per output channel."""

    values: np.ndarray
    scales: np.ndarray


@dataclass(frozen=True)
class Int8WeightQuantizer:
    """Per-output-channel symmetric int8 (zero point 0, range ±127)."""

    qmax: ClassVar[int] = 127

    def scales(self, w: np.ndarray) -> np.ndarray:
        peak = np.abs(_channel_view(w, w.shape[0])).max(axis=1)
        return np.where(peak > 0, peak / self.qmax, _TINY_SCALE)

    def integer(self, w: np.ndarray) -> IntegerWeight:
        scales = self.scales(np.asarray(w, np.float64)).astype(np.float32).astype(np.float64)
        shape = (-1,) + (1,) * (w.ndim - 1)
        q = np.clip(round_half_away(w / scales.reshape(shape)), -self.qmax, self.qmax)
        return IntegerWeight(q.astype(np.int8), scales)

    def fake(self, w: torch.Tensor) -> tuple:
        peak = _channel_view(w.detach().abs(), w.shape[0]).amax(dim=1)
        scales = torch.where(peak > 0, peak / self.qmax, torch.full_like(peak, _TINY_SCALE))
        shape = (-1,) + (1,) * (w.dim() - 1)
        s = scales.reshape(shape)
        q = torch.clamp(round_ste(w / s), -self.qmax, self.qmax)
        return q * s, scales


@dataclass(frozen=True)
class DoReFaWeightQuantizer:
    """K-bit DoReFa weights: odd integers ``2i - (2^K - 1)`` times one scale for the layer.

    The grid spans ``[-peak, peak]`` with ``peak = f * max|w|``, ``f`` the factor of
    ``PEAK_FACTORS`` with the least squared error ``||w - Q(w)||^2`` (weights beyond the peak clip to
    the end levels). At 2 bits the end levels at ``max|w|`` would leave most weights between the two
    inner levels; the search places them where the weights are. The search runs in numpy on the
    detached weights for both views, so training and the stored integers use the same peak; on an
    already quantized weight ``f = 1`` reproduces it exactly, so the quantizer is idempotent.
    """

    bits: int

    PEAK_FACTORS: ClassVar[np.ndarray] = np.linspace(1.0, 0.2, 33)

    @property
    def levels(self) -> int:
        return (1 << self.bits) - 1

    def _index(self, w, peak, floor, clip):
        """Grid index ``i = clip(round((w/peak + 1)/2 * n), 0, n)`` (round half up, w/peak+1 >= 0)."""
        return clip(floor((w / peak + 1.0) * 0.5 * self.levels + 0.5), 0, self.levels)

    def peak(self, w: np.ndarray) -> float:
        w = np.asarray(w, np.float64).ravel()
        top = float(np.abs(w).max())
        if top == 0.0:
            return _TINY_SCALE * self.levels
        errors = []
        for f in self.PEAK_FACTORS:
            p = f * top
            real = (2 * self._index(w, p, np.floor, np.clip) - self.levels) * (p / self.levels)
            errors.append(float(np.sum((real - w) ** 2)))
        return float(self.PEAK_FACTORS[int(np.argmin(errors))] * top)

    def integer(self, w: np.ndarray) -> IntegerWeight:
        w = np.asarray(w, np.float64)
        peak = self.peak(w)
        q = 2 * self._index(w, peak, np.floor, np.clip) - self.levels
        step = np.float64(np.float32(peak / self.levels))
        return IntegerWeight(q.astype(np.int8), np.full(w.shape[0], step))

    def fake(self, w: torch.Tensor) -> tuple:
        peak = torch.tensor(self.peak(w.detach().cpu().numpy()), dtype=w.dtype, device=w.device)
        x = (w / peak + 1.0) * 0.5 * self.levels
        i = torch.clamp(x + (torch.floor(x + 0.5) - x).detach(), 0, self.levels)
        step = peak / self.levels
        return (2 * i - self.levels) * step, step.expand(w.shape[0])


@dataclass(frozen=True)
class XnorWeightQuantizer:
    """Binary weights ``sign(w)`` (``w >= 0`` -> +1) times ``alpha_c = mean|w_c|`` per channel."""

    def integer(self, w: np.ndarray) -> IntegerWeight:
        w = np.asarray(w, np.float64)
        alpha = np.abs(_channel_view(w, w.shape[0])).mean(axis=1)
        alpha = np.where(alpha > 0, alpha, _TINY_SCALE).astype(np.float32).astype(np.float64)
        return IntegerWeight(np.where(w >= 0, 1, -1).astype(np.int8), alpha)

    def fake(self, w: torch.Tensor) -> tuple:
        alpha = _channel_view(w.abs(), w.shape[0]).mean(dim=1).clamp_min(_TINY_SCALE)
        signs = torch.where(w >= 0, 1.0, -1.0).to(w.dtype)
        signs = w + (signs - w).detach()
        shape = (-1,) + (1,) * (w.dim() - 1)
        return signs * alpha.reshape(shape), alpha.detach()


WEIGHT_QUANTIZERS = {
    "int8": lambda p: Int8WeightQuantizer(),
    "dorefa": lambda p: DoReFaWeightQuantizer(p.weight_bits),
    "xnor": lambda p: XnorWeightQuantizer(),
}


def weight_quantizer(precision):
    """The weight quantizer of a :class:`~edgeconv.quant.precision.Precision` (not fp32)."""
    return WEIGHT_QUANTIZERS[precision.kind](precision)


# ---- activation grids -------------------------------------------------------------------------


def asymmetric_params(lo: float, hi: float, qmin: int = -128, qmax: int = 127) -> QuantParams:
    """int8 per-tensor params covering ``[lo, hi]`` extended to contain 0, with 0 exact.

    ``scale = (hi - lo) / (qmax - qmin)`` (rounded to float32), ``zp = round(qmin - lo/scale)``
    clipped to ``[qmin, qmax]``; real 0 is then the integer ``zp`` exactly (Krishnamoorthi §2.1).
    """
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = float(np.float32(max(hi - lo, _TINY_SCALE) / (qmax - qmin)))
    zero_point = int(np.clip(round_half_away(qmin - lo / scale), qmin, qmax))
    return QuantParams(np.array([scale]), np.array([zero_point]), None, qmin, qmax)


def dorefa_params(act_bits: int) -> QuantParams:
    """``clip(x, 0, 1)`` on ``2^M`` levels: scale ``1/(2^M - 1)``, zp -128, qmax ``-128 + 2^M - 1``."""
    levels = (1 << act_bits) - 1
    return QuantParams(np.array([1.0 / levels]), np.array([-128]), None, -128, -128 + levels)


def sign_threshold(steps: int, scale: float) -> float:
    """The Sign threshold halfway below the grid value ``steps * scale``: ``scale * (steps - 1/2)``,
    so that ``x >= threshold`` holds from the code ``zp + steps`` on (``sign_threshold_code``), and
    no runtime's rounding of the comparison can move it across a grid value. 0 for ``steps == 0``
    (the plain ``x >= 0``)."""
    return scale * (steps - 0.5) if steps else 0.0


def sign_threshold_code(threshold: float, scale: float) -> int:
    """The least ``q - zp`` whose real value ``scale * (q - zp)`` is ``>= threshold``:
    ``ceil(threshold / scale)`` (0 for the threshold 0; a threshold halfway between two grid
    values, as quantization places it, is far from the rounding of this division)."""
    return int(np.ceil(threshold / scale))


def binary_params() -> QuantParams:
    """The output of a Sign node: values {-1, +1}, scale 1, zero point 0."""
    return QuantParams(np.array([1.0]), np.array([0]), None, -1, 1)


def probability_params() -> QuantParams:
    """Softmax and Logistic outputs (TFLite rule): scale 1/256, zero point -128."""
    return QuantParams(np.array([1.0 / 256.0]), np.array([-128]), None, -128, 127)
