"""The in-place im2col of first layers of 1 to 3 channels by kernel rows (``ec_im2col_narrow_rows``
in ec_im2col.h, ``packing.im2col_narrow_rows``): every build this machine runs, under the address
and undefined-behaviour sanitizers (the call driver allocates each buffer at its exact size), against
the plain integer formula.

A narrow kernel row is read as whole 4-byte groups, so in place it may read up to 3 bytes past its
last tap: the cases put such a row at the input's last byte (no padding), run the columns whose
windows cross the left or right edge as lists of copied rows (more than one list's 16 pixels down a
column), a map small enough for the VNNI tiles' small-map lists, 3 channels by 4 columns (the
narrowest kernel row of 3 channels that saves a group), a 1x9 kernel, a dilation down (allowed) and
across (not narrow: taps again), and 3 channels by 3 columns (not narrow: no group saved)."""

from pathlib import Path

import numpy as np
import pytest

from edgeconv.kernels.packing import im2col_narrow_rows, im2col_scratch_bytes, im2col_weight_rows, pack_gemm_weights
from tests.kernels import calldriver
from tests.kernels.calldriver import Calls, out
from tests.kernels.cbuild import ISA_DIRS, ISA_FLAGS, QParams, isas_with_avx512, window
from tests.kernels.intref import multipliers
from tests.kernels.test_conv_kernels import out_size, reference_conv

SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1")
# the builds whose GEMM tiles differ: the avx512 level without VNNI runs the AVX2 tiles, and AMX
# takes no narrow layer (its packed K is at most 28 bytes, under EC_AMX_MIN_K)
BUILDS = [isa for isa in isas_with_avx512() if isa != "x86-avx512bw"]

# (C_in, H, W, C_out, kernel, stride, pads (t, l, b, r), dilation, narrow)
CASES = [
    (1, 7, 9, 40, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), True),     # the last row ends the input: 1 byte past it
    (2, 6, 11, 16, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), True),    # 6-byte rows, 2 bytes past the input's end
    (2, 4, 4, 16, (2, 2), (1, 1), (0, 1, 1, 0), (1, 1), True),     # 16 pixels: small-map lists; 4-byte rows
    (3, 10, 17, 24, (2, 4), (2, 1), (1, 2, 0, 1), (1, 1), True),   # 12-byte rows, asymmetric padding, stride 2 down
    (1, 6, 50, 20, (1, 9), (1, 1), (0, 4, 0, 4), (1, 1), True),    # 1x9: 4 edge columns a side
    (1, 40, 6, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),     # edge columns of 40: lists of 16, 16, 8; 8 channels
    (1, 30, 37, 32, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),   # stride 2, a grayscale stem's shape
    (2, 12, 15, 20, (3, 3), (1, 1), (2, 1, 2, 1), (2, 1), True),   # dilated down
    (1, 12, 15, 20, (3, 3), (1, 1), (1, 2, 1, 2), (1, 2), False),  # dilated across: taps
    (3, 9, 14, 24, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False),   # 3 x 3 of 3 channels: 3 groups either way
]


def case_id(c):
    return "c{}_{}x{}_o{}_k{}_s{}_d{}".format(c[0], c[1], c[2], c[3], "x".join(map(str, c[4])),
                                              "x".join(map(str, c[5])), "x".join(map(str, c[7])))


def test_the_cases_are_narrow_where_they_say():
    for cin, _, _, _, k, _, _, dilation, narrow in CASES:
        assert im2col_narrow_rows(cin, *k, dilation[1]) == narrow


@pytest.mark.parametrize("isa", BUILDS)
def test_narrow_kernel_rows_match_the_integer_formula_under_sanitizers(isa, tmp_path: Path):
    calls, expected = Calls(), []
    rng = np.random.default_rng(7)
    for cin, h, w, cout, k, stride, pads, dilation, _ in CASES:
        oh = out_size(h, k[0], stride[0], pads[0], pads[2], dilation[0])
        ow = out_size(w, k[1], stride[1], pads[1], pads[3], dilation[1])
        win = window((h, w, cin), (oh, ow, cout), k, stride, pads, dilation)
        for zp_in in (-128, 127, 5):
            x = rng.integers(-128, 128, size=(1, cin, h, w)).astype(np.int8)
            wt = rng.integers(-128, 128, size=(cout, cin, *k)).astype(np.int8)
            spread = 128 * np.sqrt(cin * k[0] * k[1])
            bias = rng.integers(-16 * spread, 16 * spread, size=cout).astype(np.int32)
            mult, shift = multipliers(rng.uniform(0.5, 4.0, size=cout) / spread)
            q = QParams(zp_in, int(rng.integers(-10, 10)), -128, 127)
            expected.append(reference_conv(x, wt, bias, q, stride, pads, dilation, 1, mult, shift))
            rows = np.moveaxis(wt, 1, -1).reshape(cout, -1)
            packed_rows = im2col_weight_rows(rows, cin, *k, dilation[1])
            scratch = im2col_scratch_bytes(cin, *k, oh, ow, cout)
            calls.add("ec_s8_conv2d_im2col", np.ascontiguousarray(np.moveaxis(x[0], 0, -1)),
                      np.ascontiguousarray(pack_gemm_weights(packed_rows)), bias,
                      rows.astype(np.int64).sum(axis=1).astype(np.int32), mult, shift, win, q,
                      np.zeros(scratch, np.int8) if scratch else None, out(oh * ow * cout))
    binary = calldriver.build("cc", ISA_DIRS[isa], ISA_FLAGS[isa] + SANITIZE, tmp_path / "driver",
                              ("ec_s8_conv2d_im2col",))
    got = calldriver.run([str(binary)], calls)
    for i, (result, want) in enumerate(zip(got, expected)):
        np.testing.assert_array_equal(np.frombuffer(result[0], np.int8), np.moveaxis(want[0], 0, -1).reshape(-1),
                                      err_msg=f"{case_id(CASES[i // 3])} zp #{i % 3}")
