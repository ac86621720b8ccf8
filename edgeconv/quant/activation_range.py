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


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def round_half_away(value) -> np.ndarray:
    """``std::round``: to the nearest integer, halves away from zero (float in, int64 out).

    Saturating: the value is clamped to ``[-2**31, 2**31 - 1]`` in float *before* the integer cast,
    NaN taken as ``-2**31``, so huge magnitudes and infinities never overflow the cast. After
    ``+ zero_point`` and the clamp to ``[qmin, qmax]`` that every caller applies, ``-inf`` and
    ``-1e30`` give ``qmin``, ``+inf`` gives ``qmax`` and NaN gives ``qmin``, as the C kernel
    ``ec_s8_quantize`` does.
    """
    value = np.asarray(value, dtype=np.float64)
    bounded = np.clip(np.where(np.isnan(value), float(INT32_MIN), value), float(INT32_MIN), float(INT32_MAX))
    return (np.sign(bounded) * np.floor(np.abs(bounded) + 0.5)).astype(np.int64)


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

