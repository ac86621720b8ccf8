"""Channels-first IR -> channels-last TFLite.

TFLite stores activations channels-last: an IR tensor ``(N, C, *spatial)`` becomes
``(N, *spatial, C)`` (NCHW -> NHWC, NCL -> NLC); rank-2 ``(N, C)`` tensors are unchanged.
1-D convolutions and pools run as their 2-D kernels on ``(N, 1, L, C)`` views (H = 1).
Conv weights OIHW become OHWI (CONV_2D) or 1HWO (DEPTHWISE_CONV_2D).
"""

from __future__ import annotations

import numpy as np


def channels_last_shape(shape: tuple) -> tuple:
    shape = tuple(shape)
    if len(shape) < 3:
        return shape
    return (shape[0], *shape[2:], shape[1])


def to_channels_last(x: np.ndarray) -> np.ndarray:
    """An activation array in the IR's layout -> the .tflite model's layout."""
    return np.ascontiguousarray(np.moveaxis(x, 1, -1)) if x.ndim >= 3 else x


def to_channels_first(x: np.ndarray) -> np.ndarray:
    """An activation array in the .tflite model's layout -> the IR's layout."""
    return np.ascontiguousarray(np.moveaxis(x, -1, 1)) if x.ndim >= 3 else x


def channels_last_axis(axis: int, rank: int) -> int:
    """Index in the channels-last tensor of IR axis ``axis`` of a rank-``rank`` tensor."""
    axis = axis % rank
    if rank < 3 or axis == 0:
        return axis
    return rank - 1 if axis == 1 else axis - 1


def broadcast_constant(data: np.ndarray, rank: int) -> np.ndarray:
    """A constant operand of a broadcasting op, as a channels-last array of rank ``rank``."""
    data = data.reshape((1,) * (rank - data.ndim) + data.shape)
    return to_channels_last(data)


def conv_filter(weight: np.ndarray) -> np.ndarray:
    """OIHW (or OIL) conv weights -> OHWI, 1-D kernels as height-1 2-D kernels."""
    if weight.ndim == 3:
        weight = weight[:, :, None, :]
    return np.ascontiguousarray(weight.transpose(0, 2, 3, 1))


def depthwise_filter(weight: np.ndarray) -> np.ndarray:
    """(C_out, 1, KH, KW) depthwise weights -> (1, KH, KW, C_out)."""
    if weight.ndim == 3:
        weight = weight[:, :, None, :]
    return np.ascontiguousarray(weight.transpose(1, 2, 3, 0))
