"""Fixed-point requantization against a plain-integer transcription of TFLite's definitions."""

import math

import numpy as np
import pytest

from edgeconv.quant import fixedpoint as fp


def srdhm_scalar(a: int, b: int) -> int:
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return _trunc_div(ab + nudge, 1 << 31)


def _trunc_div(n: int, d: int) -> int:
    q = abs(n) // d
    return q if n >= 0 else -q


def rdbpot_scalar(x: int, e: int) -> int:
    mask = (1 << e) - 1
    rem = x & mask
    thr = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if rem > thr else 0)


def mbqm_scalar(x: int, q: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return rdbpot_scalar(srdhm_scalar(x * (1 << left), q), right)


@pytest.mark.parametrize("m", [0.5, 0.25, 1.0, 1.5, 0.0001234, 0.987654321, 3.0e-9, 2.0**-31 * 1.5])
def test_quantize_multiplier_reconstructs_value(m):
    q, shift = fp.quantize_multiplier(m)
    assert (q == 0 and shift == 0) or (2**30 <= q < 2**31)
    if q:
        assert math.isclose(q * 2.0 ** (shift - 31), m, rel_tol=2**-30)


def test_quantize_multiplier_rounds_mantissa_up_to_next_power():
    q, shift = fp.quantize_multiplier(1.0 - 2.0**-40)
    assert (q, shift) == (2**30, 1)


def test_multiply_matches_integer_transcription_on_random_and_edge_values():
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.integers(-(2**31), 2**31, 400), [-(2**31), 2**31 - 1, 0, 1, -1, 12345, -12345]])
    for m in [0.00037, 0.0123, 0.5, 0.75, 1.9, 6.5]:
        q, shift = fp.quantize_multiplier(m)
        small = xs if shift <= 0 else (xs >> shift)
        got = fp.multiply_by_quantized_multiplier(small, q, shift)
        want = [mbqm_scalar(int(x), q, shift) for x in small]
        np.testing.assert_array_equal(got, want)


def test_saturation_of_the_single_overflow_case():
    assert fp.saturating_rounding_doubling_high_mul(-(2**31), -(2**31)) == 2**31 - 1


def test_rounding_divide_rounds_half_away_from_zero():
    np.testing.assert_array_equal(fp.rounding_divide_by_pot([5, -5, 6, -6, 7, -7], 1), [3, -3, 3, -3, 4, -4])


def test_requantize_clamps_to_range():
    q, shift = fp.quantize_multiplier(0.5)
    np.testing.assert_array_equal(fp.requantize([1000, -1000, 10], q, shift, 3, -128, 127), [127, -128, 8])
