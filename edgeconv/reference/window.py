"""Windowed accumulation shared by the float and integer reference kernels.

Convolution and pooling are written once here, over numpy arrays of any numeric dtype; the float
kernels call them in float64 (then round to float32), the integer kernels in int64 so no
accumulator can overflow while computing the exact int32 value TFLite would.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad_spatial(x: np.ndarray, pads: tuple, value) -> np.ndarray:
    """Pad the spatial dims (2..) of ``x`` with ``value``; ``pads = (begins..., ends...)``."""
    r = x.ndim - 2
    if not any(pads):
        return x
    width = [(0, 0), (0, 0)] + [(pads[i], pads[r + i]) for i in range(r)]
    return np.pad(x, width, mode="constant", constant_values=value)


def windows(x: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple) -> np.ndarray:
    """View of ``x`` (N, C, *S) as (N, C, *out, *kernel) windows, strided and dilated."""
    r = len(kernel)
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    view = sliding_window_view(x, spans, axis=tuple(range(2, 2 + r)))
    index = (slice(None), slice(None))
    index += tuple(slice(None, None, s) for s in stride)
    index += tuple(slice(None, None, d) for d in dilation)
    return view[index]


def conv_accumulate(x: np.ndarray, w: np.ndarray, stride: tuple, pads: tuple, dilation: tuple,
                    groups: int, pad_value=0) -> np.ndarray:
    """Sum over window and input channels of ``x * w`` per group, in ``x``'s dtype.

    ``x``: (N, C_in, *S); ``w``: (C_out, C_in/groups, *K). Returns (N, C_out, *S_out).
    ``pad_value`` is what padded positions hold (the input zero point for int8, +1 for binary).
    """
    r = w.ndim - 2
    xp = pad_spatial(x, pads, pad_value)
    win = windows(xp, w.shape[2:], stride, dilation)  # N, C_in, *out, *K
    n, c_in = x.shape[:2]
    c_out = w.shape[0]
    cin_g, cout_g = c_in // groups, c_out // groups
    out_sp = win.shape[2:2 + r]
    win = win.reshape(n, groups, cin_g, *out_sp, -1)
    wg = w.reshape(groups, cout_g, cin_g, -1).astype(x.dtype)
    # n g c o... k , g f c k -> n g f o...
    letters = "pq"[:r]
    acc = np.einsum(f"ngc{letters}k,gfck->ngf{letters}", win, wg, optimize=True)
    return acc.reshape(n, c_out, *out_sp)


def transpose_conv_accumulate(x: np.ndarray, w: np.ndarray, op) -> np.ndarray:
    """A 2-D transposed convolution's sums (``ops.ConvTranspose``) in ``x``'s dtype, cropped by
    ``op.pads``: ``x`` (N, C_in, H, W), ``w`` (C_out, C_in / groups, k_h, k_w); returns (N, C_out, *out).

    Each output adds its products in TFLite's order (``reference_ops::TransposeConv``: input rows,
    then columns, then channels, the scatter seen from one output). An output meets input row
    ``iy = (oy + pad_top - ky) / s_h``, which grows as ``ky`` falls, so the taps run from the last
    to the first, the group's input channels innermost; a float32 ``x`` is thus summed one rounding per product and
    per addition exactly as TFLite Micro and ``ec_f32_conv_transpose2d`` sum it.
    """
    n, c_in, h, wd = x.shape
    c_out, cin_g, k_h, k_w = w.shape
    cout_g = c_out // op.groups
    s_h, s_w = op.stride
    full = np.zeros((n, c_out) + op.full_size((h, wd), (k_h, k_w)), dtype=x.dtype)
    w = w.astype(x.dtype)
    for ky in reversed(range(k_h)):
        for kx in reversed(range(k_w)):
            hit = full[:, :, ky:ky + s_h * (h - 1) + 1:s_h, kx:kx + s_w * (wd - 1) + 1:s_w]
            for g in range(op.groups):
                outs = slice(g * cout_g, (g + 1) * cout_g)
                for c in range(cin_g):
                    hit[:, outs] += x[:, g * cin_g + c:g * cin_g + c + 1] * w[outs, c, ky, kx].reshape(1, -1, 1, 1)
    rows, cols = full.shape[2:]
    return full[:, :, op.pads[0]:rows - op.pads[2], op.pads[1]:cols - op.pads[3]]
