"""The taps of a bilinear resize along one axis: which two input positions each output position
reads and with what weights, in TFLite's arithmetic (``reference_ops::ResizeBilinear`` and
``ResizeBilinearInteger`` in TensorFlow Lite's ``kernels/internal/reference/resize_bilinear.h``,
the kernels TFLite Micro runs). The reference executor and the C lowering both read them, so the
C kernels only apply the tables.

Output position ``i`` of ``out`` along an axis of ``inp`` positions reads ``lo[i]`` and
``hi[i]``; its weights along that axis are ``1 - f`` for ``lo`` and ``f`` for ``hi``. A 2-D tap is
the product of the row's and the column's weights.

**Float** (float32, each operation rounded as TFLite's C++ does): ``scale = f32(inp) / out``, or
``f32(inp - 1) / (out - 1)`` with ``align_corners`` (when ``out > 1``); the source coordinate is
``t = (f32(i) + 0.5) * scale - 0.5`` with half-pixel centers (``align_corners=False``: PyTorch's
default, TFLite's ``half_pixel_centers=True``), else ``t = f32(i) * scale``;
``lo = max(floor(t), 0)``, ``hi = min(ceil(t), inp - 1)``, ``f = t - lo``, ``1 - f`` rounded too.
Near the first edge ``t`` is negative (down to -0.5): ``lo = hi = 0`` and the weights are
``1 - t`` and ``t``, which sum to one, where PyTorch clamps ``t`` to 0 (the same value, within a
float32 rounding).

**Integer** (all int32, ``/`` truncating toward zero as in C): the scale in units of 2^-10,
``s = (1024 * inp + out / 2) / out`` or ``(1024 * (inp - 1) + (out - 1) / 2) / (out - 1)`` with
``align_corners`` (``out > 1``); ``t = i * s + s / 2 - 512`` with half-pixel centers, else
``t = i * s``; ``lo = max(t / 1024, 0)``, ``hi = min((t + 1023) / 1024, inp - 1)``;
``f = t - 1024 * lo`` (the weight of ``hi`` in units of 2^-10; ``1024 - f`` that of ``lo``; ``f``
lies in [-512, 1024)).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

ONE = 1 << 10  # the integer weights' unit: 2^-10


class FloatTaps(NamedTuple):
    lo: np.ndarray     # int32
    hi: np.ndarray     # int32
    w_lo: np.ndarray   # float32: 1 - f
    w_hi: np.ndarray   # float32: f


class IntTaps(NamedTuple):
    lo: np.ndarray     # int32
    hi: np.ndarray     # int32
    frac: np.ndarray   # int32: f in units of 2^-10 (the weight of hi; ONE - f that of lo)


def _c_div(a: np.ndarray, b: int) -> np.ndarray:
    """C's integer division (truncation toward zero) of int64 ``a`` by a positive ``b``."""
    return np.sign(a) * (np.abs(a) // b)


def float_taps(inp: int, out: int, align_corners: bool) -> FloatTaps:
    f32 = np.float32
    if align_corners and out > 1:
        scale = f32(inp - 1) / f32(out - 1)
    else:
        scale = f32(inp) / f32(out)
    i = np.arange(out, dtype=np.float32)
    with np.errstate(over="ignore"):
        t = (i * scale) if align_corners else ((i + f32(0.5)) * scale - f32(0.5))
    t = t.astype(np.float32)
    lo = np.maximum(np.floor(t), 0).astype(np.int32)
    hi = np.minimum(np.ceil(t), inp - 1).astype(np.int32)
    w_hi = (t - lo.astype(np.float32)).astype(np.float32)
    return FloatTaps(lo, hi, (f32(1) - w_hi).astype(np.float32), w_hi)


def int_scale(inp: int, out: int, align_corners: bool) -> int:
    """The scale ``inp / out`` (or ``(inp - 1) / (out - 1)``) in units of 2^-10, rounded as TFLite."""
    if align_corners and out > 1:
        return (ONE * (inp - 1) + (out - 1) // 2) // (out - 1)
    return (ONE * inp + out // 2) // out


def int_taps(inp: int, out: int, align_corners: bool) -> IntTaps:
    s = int_scale(inp, out, align_corners)
    i = np.arange(out, dtype=np.int64)
    t = i * s if align_corners else i * s + s // 2 - ONE // 2
    lo = np.maximum(_c_div(t, ONE), 0)
    hi = np.minimum(_c_div(t + ONE - 1, ONE), inp - 1)
    if lo[-1] > inp - 1:  # the rounded scale can overshoot at outputs of over 1024 positions
        raise ValueError(f"bilinear resize of {inp} to {out} positions: TFLite's integer coordinates "
                         f"leave the input (row {int(lo[-1])})")
    return IntTaps(lo.astype(np.int32), hi.astype(np.int32), (t - ONE * lo).astype(np.int32))
