"""Explicit IR padding -> TFLite's SAME / VALID, or an explicit PAD before a VALID window op.

TFLite SAME (per spatial dim): ``out = ceil(in / stride)``,
``total = max((out - 1) * stride + span - in, 0)`` with ``span = dilation * (k - 1) + 1``,
``begin = total // 2``, ``end = total - begin``. IR pads equal to that are written as SAME,
all-zero pads as VALID; anything else becomes PAD/PADV2 with the op's pad value, then VALID.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from tflite.BuiltinOperator import BuiltinOperator as B
from tflite.Padding import Padding

from .lowering import Lowering


@dataclass(frozen=True)
class Window:
    """A 2-D window geometry (1-D ops use height 1), pads = (top, left, bottom, right)."""

    kernel: tuple
    stride: tuple
    dilation: tuple
    pads: tuple

    @classmethod
    def of(cls, kernel, stride, dilation, pads) -> "Window":
        if len(kernel) == 1:
            return cls((1, kernel[0]), (1, stride[0]), (1, dilation[0]), (0, pads[0], 0, pads[1]))
        return cls(tuple(kernel), tuple(stride), tuple(dilation), tuple(pads))


def same_pads(size: tuple, w: Window) -> tuple:
    begins, ends = [], []
    for i in range(2):
        out = math.ceil(size[i] / w.stride[i])
        span = w.dilation[i] * (w.kernel[i] - 1) + 1
        total = max((out - 1) * w.stride[i] + span - size[i], 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return (*begins, *ends)


def tflite_padding(size: tuple, w: Window) -> int | None:
    """SAME or VALID when either reproduces ``w.pads`` on an input of spatial ``size``."""
    if not any(w.pads):
        return Padding.VALID
    if w.pads == same_pads(size, w):
        return Padding.SAME
    return None


def pad_explicitly(lower: Lowering, src: int, pads: tuple, value, dst: Optional[int] = None) -> int:
    """PAD (value = the zero point) or PADV2 (any other value) of the spatial dims of ``src``.

    ``src`` is channels-last; ``pads = (begins..., ends...)`` over its spatial dims; ``value``
    is the raw stored value (int8 for quantized tensors). Returns the padded tensor.
    """
    shape = lower.shape_of(src)
    r = len(shape) - 2
    rows = [[0, 0]] + [[pads[i], pads[r + i]] for i in range(r)] + [[0, 0]]
    if dst is None:
        padded_shape = (shape[0], *(shape[1 + i] + sum(rows[1 + i]) for i in range(r)), shape[-1])
        dst = lower.like(src, lower.model.tensors[src].name + "_padded", padded_shape)
    paddings = lower.constant("paddings", np.array(rows, dtype=np.int32))
    quant = lower.quant_of(src)
    zero = 0 if quant is None else int(quant.zero_point[0])
    if value == zero:
        lower.op(B.PAD, [src, paddings], [dst])
    else:
        constant = lower.constant("pad_value", np.array([value], dtype=np.dtype(lower.dtype_of(src))), quant)
        lower.op(B.PADV2, [src, paddings, constant], [dst])
    return dst


def windowed_input(lower: Lowering, src: int, w: Window, pad_value) -> tuple:
    """``(input tensor, Padding)`` for a window op over NHWC ``src`` with geometry ``w``."""
    size = lower.shape_of(src)[1:3]
    padding = tflite_padding(size, w)
    if padding is not None:
        return src, padding
    return pad_explicitly(lower, src, w.pads, pad_value), Padding.VALID
