"""How IR tensors (channels-first, batch first) are laid out in the generated C (channels-last,
one sample): ``(N, C, H, W)`` -> ``H x W x C``, ``(N, C, L)`` -> ``L x C``, ``(N, F)`` -> ``F``."""

from __future__ import annotations

import math

import numpy as np

from ...errors import UserError
from ...ir import Tensor


def c_dims(shape: tuple) -> list:
    """Per-sample channels-last dims of an IR shape."""
    per_sample = list(shape[1:])
    if len(per_sample) <= 1:
        return per_sample or [1]
    return per_sample[1:] + per_sample[:1]


def c_axis(rank: int, ir_axis: int) -> int:
    """Index in :func:`c_dims` of IR axis ``ir_axis`` (not the batch)."""
    ir_axis = ir_axis % rank
    if ir_axis == 0:
        raise UserError("operations along the batch axis are not supported by the C backend")
    if rank <= 2:
        return ir_axis - 1
    return rank - 2 if ir_axis == 1 else ir_axis - 2


def hwc3(shape: tuple) -> tuple:
    """(H, W, C) of a tensor for the 2-D kernels: 1-D signals have H = 1, vectors H = W = 1."""
    dims = c_dims(shape)
    if len(dims) == 1:
        return 1, 1, dims[0]
    if len(dims) == 2:
        return 1, dims[0], dims[1]
    if len(dims) == 3:
        return tuple(dims)
    raise UserError(f"tensors of rank {len(shape)} are not supported by the C backend")


def is_layout_trivial(shape: tuple) -> bool:
    """True when channels-last and channels-first orders of one sample are the same bytes."""
    return len(shape) <= 2 or shape[1] == 1 or math.prod(shape[2:]) == 1


def sample_bytes(t: Tensor) -> int:
    return math.prod(t.shape[1:]) * np.dtype(t.dtype).itemsize


def to_c_order(data: np.ndarray) -> np.ndarray:
    """A constant with batch dim 1 in the channels-last order of :func:`c_dims`."""
    if data.ndim <= 2:
        return data.reshape(-1)
    return np.moveaxis(data[0], 0, -1).reshape(-1)
