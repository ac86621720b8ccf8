"""The register tiles of the packed int8 GEMM kernels (ec_s8_conv2d_1x1, ec_s8_conv2d_im2col,
ec_s8_fully_connected) at the edges their tiling creates, on every build this machine runs
(portable, the AVX2-only x86 build, AVX-512 VNNI), against the plain integer formula (intref.py).

The AVX2 tiles (ec_x86_gemm_avx2.h) split a call's pixels into register tiles of up to 6 (spread
evenly: 7 -> 4 + 3, 16 -> 6 + 5 + 5), cover C_out in half-blocks of 8 channels (a lone pixel in
passes of 4), widen a tile's input to int16 once when its packed K is at most 4608 bytes and its
segments at least 8 bytes long, and read the bytes in place otherwise; the VNNI tiles take 12
pixels x 32 channels, and a last block of 8 or fewer channels (3, 7, 8, 17, 23, 33, 520 below)
in pixel pairs, 6 pairs at most. The cases below reach each of these paths with pixel counts and channel
counts that are not multiples of the tiles, K tails of 1 to 3 bytes, K on both sides of the
widening limit, zero points at both int8 ends, runs longer than the 64 pixels of one call, and
accumulators next to the int32 bound. The VNNI tiles read a flipped copy of their input where it
holds 12 x 2,304 bytes (4,608-byte rows of 6 pixels: the copy's size; kernel rows and taps in runs;
tap lists; pixels down a column one by one) and the input itself past it (K = 4,610, 4,700 and
the unfolded 4,800). The VNNI row tiles of first layers (1 to 3 channels, a tap one group) take
a K loop of their own in the im2col file."""

import numpy as np
import pytest

from tests.kernels.cbuild import QParams, isas_with_amx, window
from tests.kernels.intref import multipliers, requant
from tests.kernels.test_conv_kernels import out_size, reference_conv, run_fully_connected, run_variant

# (C_in, H, W, C_out, k, stride, pads (t,l,b,r)): what the AVX2 tiles do with it
CASES = [
    (16, 1, 7, 9, (1, 1), (1, 1), (0, 0, 0, 0)),        # 7 pixels: tiles of 4 and 3; 9 channels: a 1-channel half-block
    (21, 4, 4, 40, (1, 1), (1, 1), (0, 0, 0, 0)),       # 16 pixels: 6 + 5 + 5, widened with a 1-byte K tail; 5 half-blocks
    (5, 13, 11, 23, (1, 1), (1, 1), (0, 0, 0, 0)),      # 143 pixels (3 calls), 5-byte segments read in place
    (4608, 1, 6, 8, (1, 1), (1, 1), (0, 0, 0, 0)),      # K at the widening limit
    (4610, 2, 5, 17, (1, 1), (1, 1), (0, 0, 0, 0)),     # K past it: 10 pixels read in place, a 2-byte tail
    (1, 1, 13, 3, (1, 1), (1, 1), (0, 0, 0, 0)),        # K = 1
    (8, 3, 70, 12, (3, 3), (1, 1), (1, 1, 1, 1)),       # im2col rows of 70 pixels: calls of 64 and 6
    (10, 5, 9, 7, (3, 3), (1, 2), (0, 1, 2, 1)),        # 10-byte taps with 2-byte tails, taps in the padding
    (96, 4, 5, 25, (5, 5), (1, 1), (2, 2, 2, 2)),       # unfolded, K = 2400 widened
    (192, 4, 5, 25, (5, 5), (1, 1), (2, 2, 2, 2)),      # unfolded, K = 4800 past the widening limit
    (7, 6, 6, 33, (5, 5), (1, 1), (2, 2, 2, 2)),        # unfolded, K = 175 widened, a 3-byte tail
    (3, 9, 14, 8, (3, 3), (1, 1), (1, 1, 1, 1)),        # VNNI: one narrow block in pixel pairs, padded rows
    (4, 2, 7, 520, (1, 1), (1, 1), (0, 0, 0, 0)),       # VNNI: a narrow 33rd block past the call's prepared stages
    (64, 8, 8, 64, (3, 3), (1, 1), (1, 1, 1, 1)),       # AMX: 64 pixels, K = 576 in whole K tiles, kernel rows copied whole
    (24, 5, 40, 72, (3, 3), (1, 1), (1, 1, 1, 1)),      # AMX: 200 pixels (6 passes + 8), 54 K groups (6 in a last tile), 5 blocks
    (10, 6, 20, 64, (3, 3), (1, 1), (1, 1, 1, 1)),      # AMX: 10-byte taps padded to 12, copied tap by tap
    (300, 4, 4, 64, (3, 3), (1, 1), (1, 1, 1, 1)),      # AMX: unfolded taps (300 channels), 16 pixels
    (520, 3, 30, 17, (1, 1), (1, 1), (0, 0, 0, 0)),     # AMX: 1x1 calls of 64 and 26 pixels, K = 520, 2 blocks of which one 1-channel
    (32, 17, 17, 64, (3, 3), (2, 2), (1, 1, 1, 1)),     # AMX: stride 2, a padded first row and column
    (16, 32, 32, 16, (3, 3), (1, 1), (1, 1, 1, 1)),     # 16 channels of K = 144: the VNNI tiles (too narrow for AMX)
    (4700, 1, 18, 64, (1, 1), (1, 1), (0, 0, 0, 0)),    # K past the AMX buffer: the VNNI tiles
    (256, 4, 4, 24, (3, 3), (1, 1), (1, 1, 1, 1)),      # VNNI: a 4x4 map's tap lists (256 channels) flipped, pairs
    (1, 9, 30, 20, (3, 3), (2, 2), (1, 1, 1, 1)),       # taps of one group (1 channel), stride 2: a wide block, then pairs
    (2, 12, 40, 32, (3, 3), (1, 1), (1, 1, 1, 1)),      # taps of one group (2 channels): 2 blocks, rows of 38 inner pixels
]


def case_id(c):
    return "c{}_{}x{}_o{}_k{}_s{}_p{}".format(c[0], c[1], c[2], c[3], "x".join(map(str, c[4])), "x".join(map(str, c[5])),
                                              "".join(map(str, c[6])))


@pytest.mark.parametrize("isa", isas_with_amx())
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gemm_tiles_match_the_integer_formula(isa, case):
    cin, h, w, cout, k, stride, pads = case
    rng = np.random.default_rng(sum(case[:4]))
    oh = out_size(h, k[0], stride[0], pads[0], pads[2], 1)
    ow = out_size(w, k[1], stride[1], pads[1], pads[3], 1)
    win = window((h, w, cin), (oh, ow, cout), k, stride, pads, (1, 1))
    names = ["ec_s8_conv2d_im2col"] + (["ec_s8_conv2d_1x1"] if k == (1, 1) and stride == (1, 1) else [])
    for zp_in, clamp in ((-128, (-128, 127)), (127, (0, 127))):
        x = rng.integers(-128, 128, size=(1, cin, h, w)).astype(np.int8)
        wt = rng.integers(-128, 128, size=(cout, cin, *k)).astype(np.int8)
        spread = 128 * np.sqrt(cin * k[0] * k[1])  # about the products' spread / 73
        bias = rng.integers(-16 * spread, 16 * spread, size=cout).astype(np.int32)
        mult, shift = multipliers(rng.uniform(0.5, 4.0, size=cout) / spread)
        q = QParams(zp_in, int(rng.integers(-10, 10)), *clamp)
        expected = reference_conv(x, wt, bias, q, stride, pads, (1, 1), 1, mult, shift)
        assert len(np.unique(expected)) > min(10, expected.size // 4), "test data should exercise the requantization"
        for name in names:
            got = run_variant(isa, name, x, wt, bias, mult, shift, win, q)
            np.testing.assert_array_equal(got, expected, err_msg=f"{name} zp {zp_in}")


@pytest.mark.parametrize("isa", isas_with_amx())
def test_widened_tiles_at_the_accumulator_bound(isa):
    """12 pixels of K = 2048 (widened tiles) whose accumulators reach within 2^20 of INT32_MAX and
    INT32_MIN: the bias takes what the products leave of the generator's bound."""
    cin, pixels = 2048, 12
    x = np.full((1, cin, 1, pixels), -128, dtype=np.int8)
    x[0, :, 0, 1::2] = 127
    wt = np.full((4, cin, 1, 1), -128, dtype=np.int8)
    wt[1] = 127
    wt[2, ::2] = 127
    wt[3, 1::2] = 127
    q = QParams(127, 0, -128, 127)
    room = 2**31 - 1 - 255 * 128 * cin
    bias = np.array([room, -room, room // 2, -room // 2], dtype=np.int32)
    mult, shift = multipliers(np.full(4, 2.0**-24))
    win = window((1, pixels, cin), (1, pixels, 4), (1, 1), (1, 1), (0, 0, 0, 0), (1, 1))
    expected = reference_conv(x, wt, bias, q, (1, 1), (0, 0, 0, 0), (1, 1), 1, mult, shift)
    acc = np.einsum("chw,oc->ohw", x[0].astype(np.int64) - 127, wt[:, :, 0, 0].astype(np.int64)) + bias[:, None, None]
    assert acc.max() > 2**31 - 2**20 and acc.min() < -(2**31) + 2**20
    for name in ("ec_s8_conv2d_1x1", "ec_s8_conv2d_im2col"):
        np.testing.assert_array_equal(run_variant(isa, name, x, wt, bias, mult, shift, win, q), expected, err_msg=name)


@pytest.mark.parametrize("isa", isas_with_amx())
@pytest.mark.parametrize("n_in,n_out", [(5, 7), (9, 24), (40, 33), (2050, 41)])
def test_fully_connected_passes_and_channel_tails(isa, n_in, n_out):
    """One pixel: passes of 4 half-blocks and the 1 to 3 left (33 -> 4 + 1, 41 -> 4 + 2)."""
    rng = np.random.default_rng(n_in + n_out)
    for zp_in in (-128, 127):
        x = rng.integers(-128, 128, size=n_in).astype(np.int8)
        w = rng.integers(-128, 128, size=(n_out, n_in)).astype(np.int8)
        bias = rng.integers(-50000, 50000, size=n_out).astype(np.int32)
        mult, shift = multipliers(rng.uniform(0.5, 4.0, size=n_out) / (128 * np.sqrt(n_in)))
        q = QParams(zp_in, 3, -128, 127)
        acc = (x.astype(np.int64) - zp_in) @ w.T.astype(np.int64) + bias
        expected = requant(acc[None], mult, shift, q.out_zp, -128, 127)[0]
        np.testing.assert_array_equal(run_fully_connected(isa, x, w, bias, mult, shift, q), expected,
                                      err_msg=f"zp {zp_in}")
