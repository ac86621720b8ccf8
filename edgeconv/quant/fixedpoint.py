"""Fixed-point requantization, exactly as TFLite's reference kernels do it.

A real multiplier ``m = s_in * s_w / s_out`` is stored as a Q31 integer ``q`` and a power-of-two
exponent ``shift`` with ``m ≈ q * 2**(shift - 31)`` and ``q`` in ``[2**30, 2**31)``
(``QuantizeMultiplier``: ``frexp``, then ``round`` half away from zero).

Applying it to an int32 accumulator ``x`` (``MultiplyByQuantizedMultiplier``, double rounding):

1. ``x << max(shift, 0)`` (int32 wrap-around, as C does for the small shifts that occur);
2. saturating rounding doubling high multiply: ``(x * q + nudge) / 2**31`` with
   ``nudge = 2**30`` for a non-negative product, ``1 - 2**30`` otherwise, division truncating
   toward zero; the only overflow, ``x = q = -2**31``, saturates to ``2**31 - 1``;
3. rounding right shift by ``max(-shift, 0)``: round half away from zero.

All functions take numpy arrays (or scalars) and compute in int64 so no intermediate overflows.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real_multiplier: float) -> tuple:
    """``(q, shift)`` with ``real ≈ q * 2**(shift - 31)``; TFLite's ``QuantizeMultiplier``."""
    if real_multiplier == 0.0:
        return 0, 0
    if real_multiplier < 0 or not math.isfinite(real_multiplier):
        raise ValueError(f"multiplier must be finite and non-negative, got {real_multiplier}")
    mantissa, shift = math.frexp(real_multiplier)
    q = _round_half_away(mantissa * (1 << 31))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"multiplier {real_multiplier} is too large for a Q31 representation")
    return int(q), int(shift)


def quantize_multipliers(real_multipliers) -> tuple:
    """Vector form of :func:`quantize_multiplier`: int32 arrays ``(q, shift)``."""
    pairs = [quantize_multiplier(float(m)) for m in np.atleast_1d(real_multipliers)]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


def _round_half_away(value: float) -> int:
    return int(math.floor(abs(value) + 0.5)) * (1 if value >= 0 else -1)


def wrap32(x) -> np.ndarray:
    """Two's complement int32 wrap-around of int64 values (what C's int32 arithmetic does)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x - INT32_MIN) & 0xFFFFFFFF) + INT32_MIN


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    # C integer division truncates toward zero.
    high = np.where(total >= 0, total >> 31, -((-total) >> 31))
    return np.where(overflow, INT32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """``x / 2**exponent`` rounded half away from zero (gemmlowp's ``RoundingDivideByPOT``)."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, q, shift) -> np.ndarray:
    """TFLite's ``MultiplyByQuantizedMultiplier(int32 x, int32 q, int shift)``, elementwise."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap32(x << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, q), right)


def requantize(acc, q, shift, zero_point: int, qmin: int, qmax: int) -> np.ndarray:
    """int32 accumulator -> int8: scale, add the output zero point, clamp to ``[qmin, qmax]``."""
    out = multiply_by_quantized_multiplier(acc, q, shift) + zero_point
    return np.clip(out, qmin, qmax).astype(np.int8)
