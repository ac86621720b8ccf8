"""The affine step of an int8 ADD (backends/c/add_affine.py): found for the scales models have,
equal to TFLite's formula on every pair of codes, and split into the kernel's int16 halves."""

import numpy as np

from edgeconv.backends.c.add_affine import HALF, affine_add
from edgeconv.quant.integer_params import add_multipliers
from edgeconv.reference.int_kernels import add_codes

CODES = np.arange(-128, 128, dtype=np.int64)
PAIRS = [x.ravel() for x in np.meshgrid(CODES, CODES, indexing="ij")]


def kernel_arithmetic(fields: dict, a: np.ndarray, b: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The x86 kernel's int32 steps (kernels_c/x86/ec_s8_add.c)."""
    high = a * fields["affine_a_hi"] + b * fields["affine_b_hi"]
    low = a * fields["affine_a_lo"] + b * fields["affine_b_lo"]
    for v in (high, low):
        assert np.abs(v).max() < 2 ** 24
    floor15 = high + fields["affine_c_hi"] + ((low + fields["affine_c_lo"]) >> HALF)
    assert np.abs(floor15).max() < 2 ** 31
    return np.clip(floor15 >> (fields["affine_shift"] - HALF), lo, hi)


def test_the_step_is_found_and_gives_every_pairs_code():
    rng = np.random.default_rng(3)
    found = 0
    for trial in range(60):
        s_a, s_b = rng.uniform(0.002, 0.3, 2)
        s_y = rng.uniform(0.3, 3.0) * max(s_a, s_b)
        zp_a, zp_b, zp_y = (int(z) for z in rng.integers(-128, 128, 3))
        lo, hi = (zp_y, 127) if trial % 4 == 0 else (-128, 127)
        m = add_multipliers(s_a, s_b, s_y)
        step = affine_add(m, zp_a, zp_b, zp_y, lo, hi)
        if step is None:
            continue
        found += 1
        exact = add_codes(*PAIRS, m, zp_a, zp_b, zp_y, lo, hi)
        fields = step.fields()
        assert all(-2 ** 15 <= fields[k] < 2 ** 15 for k in ("affine_a_hi", "affine_b_hi"))
        assert all(0 <= fields[k] < 2 ** 15 for k in ("affine_a_lo", "affine_b_lo", "affine_c_lo"))
        np.testing.assert_array_equal(kernel_arithmetic(fields, *PAIRS, lo, hi), exact)
    assert found == 60


def test_no_step_where_the_slopes_leave_no_room_for_the_kernels_halves():
    m = add_multipliers(1.0, 1.0, 1e-6)  # each code moves the output by a million steps
    assert affine_add(m, 0, 0, 0, -128, 127) is None
