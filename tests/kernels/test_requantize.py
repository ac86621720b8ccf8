"""The one C requantization routine == TFLite MultiplyByQuantizedMultiplier (edgeconv.quant.fixedpoint)."""

import ctypes

import numpy as np
import pytest

from edgeconv.quant import fixedpoint
from tests.kernels.cbuild import QParams, isas_to_test, kernel_library, ptr

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
EDGE_X = [0, 1, -1, 2, -2, 127, -128, 255, -255, INT32_MAX, INT32_MIN, INT32_MIN + 1, 1 << 30, -(1 << 30),
          (1 << 20) * 255, -(1 << 20) * 255]


@pytest.fixture(scope="module")
def lib():
    library = kernel_library("portable")
    for name in ("ec_test_requantize", "ec_test_srdhm", "ec_test_rdivpot"):
        getattr(library, name).restype = ctypes.c_int32
        getattr(library, name).argtypes = [ctypes.c_int32] * 3 if name == "ec_test_requantize" else [ctypes.c_int32] * 2
    library.ec_test_popcount.restype = ctypes.c_int32
    library.ec_test_popcount.argtypes = [ctypes.c_uint32]
    return library


def test_requantize_matches_tflite_rule_on_edges_and_random(lib):
    rng = np.random.default_rng(0)
    reals = list(rng.uniform(1e-6, 0.999, 40)) + [1.0, 1.5, 3.9, 2.0**-20, 0.5, 0.25, 100.0]
    xs = EDGE_X + list(rng.integers(-(1 << 24), 1 << 24, 60))
    for real in reals:
        q, shift = fixedpoint.quantize_multiplier(real)
        expected = fixedpoint.multiply_by_quantized_multiplier(np.array(xs, dtype=np.int64), q, shift)
        got = [lib.ec_test_requantize(int(x), q, shift) for x in xs]
        np.testing.assert_array_equal(np.array(got), expected.astype(np.int64))


def test_srdhm_saturates_and_rounds_like_gemmlowp(lib):
    rng = np.random.default_rng(1)
    a = np.array(EDGE_X + list(rng.integers(INT32_MIN, INT32_MAX, 200, endpoint=True)), dtype=np.int64)
    b = np.array(list(reversed(EDGE_X)) + list(rng.integers(INT32_MIN, INT32_MAX, 200, endpoint=True)), dtype=np.int64)
    got = [lib.ec_test_srdhm(int(x), int(y)) for x, y in zip(a, b)]
    np.testing.assert_array_equal(np.array(got), fixedpoint.saturating_rounding_doubling_high_mul(a, b))
    assert lib.ec_test_srdhm(INT32_MIN, INT32_MIN) == INT32_MAX


@pytest.mark.parametrize("exponent", [0, 1, 2, 5, 12, 23, 30, 31])
def test_rounding_divide_by_pot_rounds_half_away(lib, exponent):
    rng = np.random.default_rng(exponent)
    xs = np.array(EDGE_X + list(rng.integers(INT32_MIN, INT32_MAX, 100, endpoint=True)), dtype=np.int64)
    got = [lib.ec_test_rdivpot(int(x), exponent) for x in xs]
    np.testing.assert_array_equal(np.array(got), fixedpoint.rounding_divide_by_pot(xs, exponent))
    if exponent >= 1:
        half = 1 << (exponent - 1)
        assert lib.ec_test_rdivpot(half, exponent) == 1
        assert lib.ec_test_rdivpot(-half, exponent) == -1


def test_popcount(lib):
    for x in (0, 1, 0xFFFFFFFF, 0x80000000, 0x55555555, 0x12345678):
        assert lib.ec_test_popcount(x) == bin(x).count("1")


@pytest.mark.skipif("x86" not in isas_to_test(), reason="this CPU has no AVX2")
def test_avx2_vector_requantization_equals_scalar_rule():
    """ec_avx2_requantize_row: eight lanes at a time, per-lane multipliers and shifts."""
    lib = kernel_library("x86")
    rng = np.random.default_rng(7)
    n = 8 * 300 + 5
    acc = np.concatenate([np.array(EDGE_X * 4, dtype=np.int64)[:64],
                          rng.integers(-(1 << 26), 1 << 26, n - 64)]).astype(np.int32)
    reals = np.concatenate([rng.uniform(1e-7, 1e-3, n // 3), rng.uniform(1e-3, 0.999, n // 3),
                            rng.uniform(1.0, 30.0, n - 2 * (n // 3))])
    rng.shuffle(reals)
    mult, shift = fixedpoint.quantize_multipliers(reals)
    mult, shift = mult.astype(np.int32), shift.astype(np.int32)
    out = np.zeros(n, dtype=np.int8)
    q = QParams(0, -3, -128, 127)
    lib.ec_test_requantize_row(ptr(acc), ptr(mult), ptr(shift), n, ctypes.byref(q), ptr(out))
    expected = np.clip(fixedpoint.multiply_by_quantized_multiplier(acc.astype(np.int64), mult, shift) - 3, -128, 127)
    np.testing.assert_array_equal(out, expected)
    # unclamped lanes: compare the raw values through a wide clamp on small accumulators
    small = (acc.astype(np.int64) % 2000 - 1000).astype(np.int32)
    lib.ec_test_requantize_row(ptr(small), ptr(mult), ptr(shift), n, ctypes.byref(q), ptr(out))
    expected = np.clip(fixedpoint.multiply_by_quantized_multiplier(small.astype(np.int64), mult, shift) - 3, -128, 127)
    np.testing.assert_array_equal(out, expected)
