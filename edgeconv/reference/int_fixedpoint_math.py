"""Fixed-point math of TFLite's int8 Softmax and Logistic (gemmlowp ``fixedpoint.h`` semantics).

A value ``FixedPoint<int32, k>`` is a raw int32 ``r`` meaning ``r / 2**(31 - k)`` (``k`` integer
bits, ``31 - k`` fractional bits). Products are saturating rounding doubling high multiplies
(``(a*b + nudge) / 2**31``, truncating division, nudge ``±2**30``); rescaling between formats is a
saturating left shift or a rounding (half away from zero) right shift. Additions wrap as int32.
All arrays hold int32 values in int64 numpy arrays; every function is elementwise.
"""

from __future__ import annotations

import numpy as np

from ..quant.fixedpoint import (
    INT32_MAX, INT32_MIN, rounding_divide_by_pot, saturating_rounding_doubling_high_mul, wrap32,
)

mul = saturating_rounding_doubling_high_mul


def saturating_rounding_mul_by_pot(x, exponent: int) -> np.ndarray:
    """``x * 2**exponent``: saturating for a left shift, rounding half away for a right shift."""
    x = np.asarray(x, dtype=np.int64)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    shifted = x << exponent
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))


def rescale(x, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp ``Rescale<dst>``: change the number of integer bits of a raw value."""
    return saturating_rounding_mul_by_pot(x, src_integer_bits - dst_integer_bits)


def rounding_half_sum(a, b) -> np.ndarray:
    """``(a + b) / 2`` rounded half away from zero (truncating division of ``a + b ± 1``)."""
    total = np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64)
    numerator = total + np.where(total >= 0, 1, -1)
    return np.where(numerator >= 0, numerator // 2, -((-numerator) // 2))


# exp(-2**e) in Q0.31 for the barrel shifter of exp_on_negative_values, e = -2 .. 4.
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def _exp_on_interval_between_negative_one_quarter_and_0(a) -> np.ndarray:
    """exp(a) for Q0.31 ``a`` in [-1/4, 0): 4th-order Taylor expansion around -1/8."""
    exp_minus_one_eighth = 1895147668
    one_third = 715827883
    x = wrap32(a + (1 << 28))
    x2 = mul(x, x)
    x3 = mul(x2, x)
    x4 = mul(x2, x2)
    x4_over_4 = saturating_rounding_mul_by_pot(x4, -2)
    tail = saturating_rounding_mul_by_pot(wrap32(mul(wrap32(x4_over_4 + x3), one_third) + x2), -1)
    return wrap32(exp_minus_one_eighth + mul(exp_minus_one_eighth, wrap32(x + tail)))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """exp(a) as Q0.31 for a raw ``FixedPoint<int32, integer_bits>`` ``a <= 0``."""
    a = np.asarray(a, dtype=np.int64)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0(rescale(a_mod_quarter_minus_quarter, integer_bits, 0))
    remainder = wrap32(a_mod_quarter_minus_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where(remainder & bit, mul(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """1 / (1 + a) as Q0.31 for Q0.31 ``a`` in [0, 1): Newton-Raphson, three iterations in Q2.29."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    forty_eight_over_17 = 1515870810
    minus_thirty_two_over_17 = -1010580540
    one_q2 = 1 << 29
    x = wrap32(forty_eight_over_17 + mul(half_denominator, minus_thirty_two_over_17))
    for _ in range(3):
        one_minus_half_denominator_times_x = wrap32(one_q2 - mul(half_denominator, x))
        x = wrap32(x + rescale(mul(x, one_minus_half_denominator_times_x), 4, 2))
    return rescale(x, 1, 0)


def logistic(a, integer_bits: int) -> np.ndarray:
    """1 / (1 + exp(-a)) as Q0.31 for a raw ``FixedPoint<int32, integer_bits>`` ``a``."""
    a = np.asarray(a, dtype=np.int64)
    positive = a > 0
    magnitude = np.where(positive, a, -a)
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-magnitude, integer_bits))
    result_if_negative = INT32_MAX - result_if_positive
    return np.where(a == 0, 1 << 30, np.where(positive, result_if_positive, result_if_negative))


def count_leading_zeros32(x) -> np.ndarray:
    """Leading zero bits of ``x`` as a uint32 (32 for 0)."""
    x = np.asarray(x, dtype=np.int64) & 0xFFFFFFFF
    bits = np.zeros(x.shape, dtype=np.int64)
    nonzero = x > 0
    bits[nonzero] = np.floor(np.log2(x[nonzero])).astype(np.int64)
    # log2 of values just below a power of two may round up in float64: correct by one.
    too_high = nonzero & ((np.int64(1) << bits) > x)
    bits[too_high] -= 1
    return np.where(nonzero, 31 - bits, 32)


def reciprocal(x, x_integer_bits: int) -> tuple:
    """TFLite ``GetReciprocal``: ``(scale, num_bits_over_unit)`` with ``1/x ≈ scale * 2**-(num_bits_over_unit)``.

    ``x`` is a positive raw ``FixedPoint<int32, x_integer_bits>``; ``scale`` is Q0.31.
    """
    headroom_plus_one = count_leading_zeros32(x)
    num_bits_over_unit = x_integer_bits - headroom_plus_one
    shifted = ((np.asarray(x, dtype=np.int64) << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(wrap32(shifted)), num_bits_over_unit
