"""Float32 meaning of every IR op: the numerical spec for float layers.

Arithmetic is done in float64 and rounded to float32 once per op, so the reference is at least as
accurate as any float32 runtime it is compared with (DESIGN §2 float tolerance).
"""

from __future__ import annotations

import numpy as np

from ..ir import ops
from .window import conv_accumulate, pad_spatial, windows


def _clamp(y: np.ndarray, clamp: tuple) -> np.ndarray:
    lo, hi = clamp
    if lo is not None:
        y = np.maximum(y, lo)
    if hi is not None:
        y = np.minimum(y, hi)
    return y


def _bias_shape(rank: int) -> tuple:
    return (1, -1) + (1,) * (rank - 2)


def conv(op: ops.Conv, x, w, b=None):
    acc = conv_accumulate(x.astype(np.float64), w.astype(np.float64), op.stride, op.pads, op.dilation, op.groups)
    if b is not None:
        acc = acc + b.astype(np.float64).reshape(_bias_shape(acc.ndim))
    return _clamp(acc, op.clamp)


def linear(op: ops.Linear, x, w, b=None):
    y = x.astype(np.float64) @ w.astype(np.float64).T
    if b is not None:
        y = y + b
    return _clamp(y, op.clamp)


def batch_norm(op: ops.BatchNorm, x, gamma, beta, mean, var):
    shape = _bias_shape(x.ndim)
    inv = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + op.eps)
    return (x - mean.reshape(shape)) * inv.reshape(shape) + beta.reshape(shape)


def clip(op: ops.Clip, x):
    return _clamp(x.astype(np.float64), (op.lo, op.hi))


def leaky_relu(op: ops.LeakyRelu, x):
    x = x.astype(np.float64)
    return np.where(x >= 0, x, x * op.alpha)


def _sigmoid(x):
    x = x.astype(np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def hardsigmoid(op, x):
    return np.clip(x.astype(np.float64) + 3.0, 0.0, 6.0) / 6.0


def hardswish(op, x):
    return x.astype(np.float64) * hardsigmoid(op, x)


def sigmoid(op, x):
    return _sigmoid(x)


def silu(op, x):
    return x.astype(np.float64) * _sigmoid(x)


def add(op: ops.Add, a, b):
    return _clamp(a.astype(np.float64) + b, op.clamp)


def mul(op: ops.Mul, a, b):
    return _clamp(a.astype(np.float64) * b, op.clamp)


def concat(op: ops.Concat, *xs):
    return np.concatenate(xs, axis=op.axis)


def _pool_input(x, op, value):
    r = len(op.kernel)
    pads = list(op.pads)
    if op.ceil_mode:  # extend the end padding so the last partial window exists
        for i in range(r):
            size = x.shape[2 + i] + pads[i] + pads[r + i]
            rem = (size - op.kernel[i]) % op.stride[i]
            if rem:
                pads[r + i] += op.stride[i] - rem
    return pad_spatial(x, tuple(pads), value), tuple(pads)


def _crop_to_infer(op, x, y):
    """Ceil mode may add a window that starts in the end padding; PyTorch (and ``op.infer``)
    drop it."""
    out = op.infer([x.shape])
    return y[tuple(slice(0, d) for d in out)]


def max_pool(op: ops.MaxPool, x):
    xp, _ = _pool_input(x.astype(np.float64), op, -np.inf)
    win = windows(xp, op.kernel, op.stride, op.dilation)
    r = len(op.kernel)
    return _crop_to_infer(op, x, win.max(axis=tuple(range(-r, 0))))


def avg_pool(op: ops.AvgPool, x):
    r = len(op.kernel)
    xp, pads = _pool_input(x.astype(np.float64), op, 0.0)
    ones = np.ones((1, 1) + x.shape[2:])
    # Count of positions that are real input (or explicit padding when count_include_pad).
    mask_value_pad = 1.0 if op.count_include_pad else 0.0
    mask = pad_spatial(ones, tuple(op.pads), mask_value_pad)
    mask = pad_spatial(mask, tuple(p - q for p, q in zip(pads, op.pads)), 0.0) if pads != tuple(op.pads) else mask
    sums = windows(xp, op.kernel, op.stride, (1,) * r).sum(axis=tuple(range(-r, 0)))
    counts = windows(mask, op.kernel, op.stride, (1,) * r).sum(axis=tuple(range(-r, 0)))
    return _crop_to_infer(op, x, sums) / _crop_to_infer(op, x, counts)


def global_avg_pool(op: ops.GlobalAvgPool, x):
    axes = tuple(range(2, x.ndim))
    return x.astype(np.float64).mean(axis=axes, keepdims=op.keepdims)


def reshape(op: ops.Reshape, x):
    return x.reshape(x.shape[0], *op.shape)


def pad(op: ops.Pad, x):
    return pad_spatial(x, op.pads, op.value)


def softmax(op: ops.Softmax, x):
    z = x.astype(np.float64) * op.beta
    z = z - z.max(axis=op.axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=op.axis, keepdims=True)


def sign(op, x):
    return np.where(x >= 0, 1.0, -1.0)


KERNELS = {
    "Conv": conv,
    "Linear": linear,
    "BatchNorm": batch_norm,
    "Clip": clip,
    "LeakyRelu": leaky_relu,
    "Hardswish": hardswish,
    "Hardsigmoid": hardsigmoid,
    "Sigmoid": sigmoid,
    "SiLU": silu,
    "Add": add,
    "Mul": mul,
    "Concat": concat,
    "MaxPool": max_pool,
    "AvgPool": avg_pool,
    "GlobalAvgPool": global_avg_pool,
    "Reshape": reshape,
    "Pad": pad,
    "Softmax": softmax,
    "Sign": sign,
}
