"""Weight layouts and scratch buffers of the C kernels, mirrored from their headers.

- ``ec_s8_packed.h``: the GEMM-shaped int8 kernels (im2col, 1x1, fully connected) read weights in
  blocks of ``PACK_LANES`` output channels by groups of 4 reduction bytes;
- ``ec_im2col.h``: ``ec_s8_conv2d_im2col`` reads the taps in place (``EC_IM2COL_INDIRECT``: at most
  ``IM2COL_MAX_TAPS`` taps and ``IM2COL_MAX_CIN`` input channels), a first layer of a few channels
  by whole kernel rows (``ec_im2col_narrow_rows``), or unfolds blocks of output rows into
  scratch (``EC_IM2COL_SCRATCH``, ``ec_im2col_unfold_rows``);
- ``ec_b1.h``: the binary kernels read 32-bit words, channel c in bit c % 32 of word c // 32
  (little-endian), a set bit meaning -1; XNOR weights interleave ``XNOR_ROW_GROUP`` output
  channels word by word; the bit-serial weights are the K bit planes of the DoReFa codes. Both
  pack the window's input extent into scratch, one plane (XNOR) or M planes (bit-serial) of words.
"""

from __future__ import annotations

import numpy as np

from ..quant.precision import Precision
from ..quant.single_rounding import step_units
from .geometry import LayerGeometry

PACK_LANES = 16
IM2COL_MAX_CIN = 256
IM2COL_MAX_TAPS = 9
IM2COL_NARROW_CIN = 3
IM2COL_NARROW_LIST_PIXELS = 16
IM2COL_SHARED_WEIGHT_BYTES = 1024 * 1024
IM2COL_BLOCK_BYTES = 256 * 1024
XNOR_ROW_GROUP = 16


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack the last axis of a 0/1 array into little-endian uint32 words (channel c -> bit c%32
    of word c//32), zero-filling the last word."""
    n = bits.shape[-1]
    words = (n + 31) // 32
    padded = np.zeros(bits.shape[:-1] + (words * 32,), dtype=np.uint64)
    padded[..., :n] = bits
    weights = (np.uint64(1) << np.arange(32, dtype=np.uint64))
    grouped = padded.reshape(bits.shape[:-1] + (words, 32))
    return (grouped * weights).sum(axis=-1).astype(np.uint32)


def k4(k: int) -> int:
    """K rounded up to a whole group of 4 bytes (``EC_PACK_K4``)."""
    return -(-k // 4) * 4


def pack_gemm_weights(w_rows: np.ndarray) -> np.ndarray:
    """(C_out, K) int8 rows -> the packed layout, flat: blocks of 16 output channels by groups of
    4 K bytes, ``packed[b, g, c, j] = W[16 b + c, 4 g + j]``, zero-filled to ceil(C_out / 16)
    blocks and K4 = K rounded up to 4."""
    c_out, k = w_rows.shape
    blocks, k_packed = -(-c_out // PACK_LANES), k4(k)
    padded = np.zeros((blocks * PACK_LANES, k_packed), dtype=np.int8)
    padded[:c_out, :k] = w_rows
    return padded.reshape(blocks, PACK_LANES, k_packed // 4, 4).transpose(0, 2, 1, 3).reshape(-1)


def im2col_indirect(c_in: int, k_h: int, k_w: int) -> bool:
    """Whether ec_s8_conv2d_im2col reads the taps in place (no scratch) rather than unfolding rows."""
    return c_in <= IM2COL_MAX_CIN and k_h * k_w <= IM2COL_MAX_TAPS


def im2col_narrow_rows(c_in: int, k_h: int, k_w: int, dilation_w: int) -> bool:
    """Whether ec_s8_conv2d_im2col reads a first layer of a few channels by kernel rows
    (``ec_im2col_narrow_rows``): its segments are the k_w * C_in bytes of a kernel row, in fewer
    4-byte groups than its taps one by one (1 or 2 channels and k_w >= 2, 3 channels and k_w >= 4),
    the kernel not dilated across."""
    return (im2col_indirect(c_in, k_h, k_w) and c_in <= IM2COL_NARROW_CIN and dilation_w == 1 and k_w > 1
            and k4(k_w * c_in) < k_w * k4(c_in))


def im2col_segments(c_in: int, k_h: int, k_w: int, dilation_w: int) -> tuple:
    """(segments per pixel, bytes per segment) of ec_s8_conv2d_im2col (``ec_im2col_gemm_init``):
    k_h narrow kernel rows, k_h * k_w taps read in place, or one unfolded window."""
    if im2col_narrow_rows(c_in, k_h, k_w, dilation_w):
        return k_h, k_w * c_in
    if im2col_indirect(c_in, k_h, k_w):
        return k_h * k_w, c_in
    return 1, k_h * k_w * c_in


def im2col_kernel_rows(c_in: int, k_w: int, dilation_w: int) -> bool:
    """Whether the in-place im2col reads each kernel row as one segment in the row tiles whose
    windows lie inside the input horizontally (``ec_im2col_rows_contiguous``, the x86 and NEON
    kernels): C_in a multiple of 4, no dilation across, more than one column."""
    return c_in % 4 == 0 and dilation_w == 1 and k_w > 1


def im2col_edge_positions(geo: LayerGeometry) -> int:
    """The output positions ec_s8_conv2d_im2col reads apart from its row tiles: where it reads the
    taps in place, those whose window crosses the input's left or right edge along the last axis
    (into the padding, or past the last column the stride reaches), run down columns or alone
    (``ec_im2col_inner`` in ``ec_im2col.h``); none where it unfolds rows."""
    k_h, k_w = geo.kernel_hw
    if not im2col_indirect(geo.c_in, k_h, k_w):
        return 0
    axis = len(geo.kernel) - 1
    size, out = geo.in_spatial[axis], geo.out_spatial[axis]
    stride, dilation, pad = geo.stride[axis], geo.dilation[axis], geo.pads[axis]
    last = size - 1 - (k_w - 1) * dilation + pad
    inner_lo = min((pad + stride - 1) // stride, out)
    inner_hi = min(last // stride + 1 if last >= 0 else 0, out)
    return (out - max(inner_hi - inner_lo, 0)) * (geo.out_positions // out)


def im2col_weight_rows(w_ohwi: np.ndarray, c_in: int, k_h: int, k_w: int, dilation_w: int) -> np.ndarray:
    """(C_out, K) OHWI rows in the K order of ec_s8_conv2d_im2col: each segment's weights
    (``im2col_segments``: a narrow kernel row's k_w * C_in, a tap's C_in where read in place)
    zero-padded to a multiple of 4 (every segment starts a 4-byte group); unchanged where unfolded."""
    segments, seg_len = im2col_segments(c_in, k_h, k_w, dilation_w)
    if segments == 1:
        return w_ohwi
    by_segment = w_ohwi.reshape(w_ohwi.shape[0], segments, seg_len)
    return np.pad(by_segment, ((0, 0), (0, 0), (0, -seg_len % 4))).reshape(w_ohwi.shape[0], -1)


def im2col_unfold_rows(c_in: int, k_h: int, k_w: int, out_h: int, out_w: int, c_out: int) -> int:
    """Output rows ec_s8_conv2d_im2col unfolds at a time (``ec_im2col_unfold_rows``, ec_s8.h):
    one, unless the weights (K rounded up to 4, times C_out) exceed ``IM2COL_SHARED_WEIGHT_BYTES``;
    then as many as ``IM2COL_BLOCK_BYTES`` hold, so that a block of rows reads the weights once."""
    reduction = k4(k_h * k_w * c_in)
    rows = IM2COL_BLOCK_BYTES // (out_w * reduction)
    if reduction * c_out <= IM2COL_SHARED_WEIGHT_BYTES or rows <= 1:
        return 1
    return min(rows, out_h)


def im2col_scratch_bytes(c_in: int, k_h: int, k_w: int, out_h: int, out_w: int, c_out: int) -> int:
    """Scratch of ec_s8_conv2d_im2col: none when indirect, else one block of unfolded output rows
    (``EC_IM2COL_SCRATCH``: ``im2col_unfold_rows`` rows of out_w patches of K rounded up to 4, and
    4 bytes of slack)."""
    if im2col_indirect(c_in, k_h, k_w):
        return 0
    return im2col_unfold_rows(c_in, k_h, k_w, out_h, out_w, c_out) * out_w * k4(k_h * k_w * c_in) + 4


def bitplane_scratch_bytes(c_in: int, extent: tuple, kernel_hw: tuple, planes: int) -> int:
    """Scratch of the binary convolutions: ``planes`` bit planes of the input's window extent
    (rows x columns) and one window of taps, each position ceil(C_in / 32) words of 4 bytes."""
    words = (c_in + 31) // 32
    return (extent[0] * extent[1] + kernel_hw[0] * kernel_hw[1]) * planes * words * 4


def pack_xnor_weights(w: np.ndarray) -> np.ndarray:
    """OIHW weights in {-1, +1} -> uint32 words (ceil(C_out / 16), k_h * k_w * words, 16): bit set
    <=> -1; the 16 channels of a group interleaved word by word, the last group zero-filled."""
    w_ohwi = np.moveaxis(w, 1, -1).reshape(w.shape[0], -1, w.shape[1])
    rows = pack_bits((w_ohwi < 0).astype(np.uint64)).reshape(w.shape[0], -1)  # C_out, taps * words
    groups = -(-w.shape[0] // XNOR_ROW_GROUP)
    padded = np.zeros((groups * XNOR_ROW_GROUP, rows.shape[1]), dtype=np.uint32)
    padded[: w.shape[0]] = rows
    return np.ascontiguousarray(padded.reshape(groups, XNOR_ROW_GROUP, -1).transpose(0, 2, 1))


def pack_bitserial_weights(w: np.ndarray, k_bits: int) -> np.ndarray:
    """OIHW odd weights w = 2i - (2^K - 1) -> the K bit planes of i as uint32 words
    (C_out, K, k_h * k_w, words)."""
    codes = (np.moveaxis(w, 1, -1).reshape(w.shape[0], -1, w.shape[1]).astype(np.int64) + (1 << k_bits) - 1) // 2
    planes = np.stack([(codes >> k) & 1 for k in range(k_bits)], axis=1)
    return pack_bits(planes.astype(np.uint64))


# Weight packers of the integer conv kernels: (OIHW integer weights, geometry, precision) -> (C
# element type, the weights as the kernel reads them).


def ohwi_rows(w: np.ndarray) -> np.ndarray:
    """(C_out, k_h * k_w * C_in) rows, channels innermost."""
    return np.moveaxis(w, 1, -1).reshape(w.shape[0], -1)


def pack_for_depthwise(w: np.ndarray, geo: LayerGeometry, precision: Precision) -> tuple:
    """k_h x k_w x C_out (one input channel per group)."""
    per_channel = w.reshape(w.shape[0], -1) if w.ndim == 3 else w[:, 0]
    return "int8_t", np.moveaxis(per_channel, 0, -1).reshape(-1)


def pack_for_sliding_window(w: np.ndarray, geo: LayerGeometry, precision: Precision) -> tuple:
    return "int8_t", ohwi_rows(w)


def pack_for_pointwise(w: np.ndarray, geo: LayerGeometry, precision: Precision) -> tuple:
    return "int8_t", pack_gemm_weights(ohwi_rows(w))


def pack_for_im2col(w: np.ndarray, geo: LayerGeometry, precision: Precision) -> tuple:
    return "int8_t", pack_gemm_weights(im2col_weight_rows(ohwi_rows(w), geo.c_in, *geo.kernel_hw, geo.dilation[-1]))


def pack_for_xnor(w: np.ndarray, geo: LayerGeometry, precision: Precision) -> tuple:
    return "uint32_t", pack_xnor_weights(w)


def pack_for_bitserial(w: np.ndarray, geo: LayerGeometry, precision: Precision) -> tuple:
    """The K bit planes of the weights' odd step codes (K = the precision's weight bits)."""
    return "uint32_t", pack_bitserial_weights(step_units(w), precision.weight_bits)
