"""Quantizing a real constant and the integer range of a fused activation, as TFLite does it.

TFLite computes both in float32 (``Quantize`` in ``kernel_util.cc``): ``q = zero_point +
round(f / scale)`` with ``f`` and ``scale`` float32, the division rounded to float32 and ``round``
half away from zero (``std::round``). The activation range of a fused clamp ``(lo, hi)`` is then
``[max(qmin, q(lo)), min(qmax, q(hi))]`` (``CalculateActivationRangeQuantized``), an unbounded side
keeping the tensor's own ``qmin``/``qmax``.
"""

from __future__ import annotations

import numpy as np

from ..ir import QuantParams


def round_half_away(value) -> np.ndarray:
    """``std::round``: to the nearest integer, halves away from zero (float in, int64 out)."""
    value = np.asarray(value, dtype=np.float64)
    return (np.sign(value) * np.floor(np.abs(value) + 0.5)).astype(np.int64)


def quantize_scalar(value: float, quant: QuantParams) -> int:
    """``zero_point + round(value / scale)`` in float32 arithmetic, not clamped."""
    ratio = np.float32(value) / np.float32(quant.scale[0])
    return int(quant.zero_point[0]) + int(round_half_away(ratio))


def activation_range(clamp: tuple, quant: QuantParams) -> tuple:
    """Integer ``(qlo, qhi)`` for the real clamp ``(lo, hi)`` on an output quantized by ``quant``."""
    lo, hi = clamp
    qlo = quant.qmin if lo is None else max(quant.qmin, quantize_scalar(lo, quant))
    qhi = quant.qmax if hi is None else min(quant.qmax, quantize_scalar(hi, quant))
    return qlo, qhi

