"""Float32 meaning of every IR op: the numerical spec for float layers.

Ops made of additions, multiplications, divisions and comparisons are computed in float32, one
IEEE rounding per operation, in the order of TFLite's reference kernels (which TFLite Micro runs)
and of edgeconv's C kernels (compiled without floating-point contraction):

- Conv (also depthwise and grouped): ``acc = 0; for ky, for kx, for ci: acc += x * w`` (a product
  then a sum, each rounded to float32; padded positions add 0), then ``acc + bias``, then the clamp;
- ConvTranspose: per output, ``acc = 0``, then ``acc += x * w`` over the input positions that reach
  it, rows then columns then input channels (TFLite's scatter order), then ``acc + bias``;
- Linear: ``acc = 0; for k: acc += x[k] * w[k]``, then ``acc + bias``, then the clamp;
- AvgPool: the window's real positions summed in (ky, kx) order, then divided by their count;
  GlobalAvgPool: the sum over H then W (row-major), then divided by H*W;
- Add, Mul: one operation, then the clamp; Hardswish ``(x * min(max(x + 3, 0), 6)) / 6``;
  Hardsigmoid ``min(max(x + 3, 0), 6) * f32(1/6)`` (ADD with fused ReLU6, then MUL, as written to
  TFLite); LeakyRelu ``x * alpha``.

So a mixed-precision model, where a float layer feeds a Quantize, rounds to the same int8 values in
the reference, in TFLite Micro and in the C runtime: a one-ulp difference before a Quantize could
otherwise move a value across a rounding boundary. Sigmoid, SiLU, Gelu and Softmax need ``exp``,
``erf`` or ``tanh``, which each math library rounds its own way: they are computed in float64 and
rounded once, and are held to the float tolerance of DESIGN §2 only. BatchNorm is folded into the
convolution before any artifact is written; it too is computed in float64.

Sigmoid, SiLU and Gelu are the float64 functions that also define the int8 lookup tables
(``quant/lut.py``).
"""

from __future__ import annotations

import itertools

import numpy as np

from ..ir import ops
from ..quant import bilinear, lut
from .window import pad_spatial, transpose_conv_accumulate, windows

F32 = np.float32


def _bias_shape(rank: int) -> tuple:
    return (1, -1) + (1,) * (rank - 2)


def _clamp(y: np.ndarray, clamp: tuple) -> np.ndarray:
    lo, hi = clamp
    if lo is not None:
        y = np.maximum(y, F32(lo))
    if hi is not None:
        y = np.minimum(y, F32(hi))
    return y


def _tap(xp: np.ndarray, offset: tuple, stride: tuple, dilation: tuple, out_sp: tuple) -> np.ndarray:
    """The input values that kernel position ``offset`` meets at every output position: (N, C, *out)."""
    index = tuple(slice(k * d, k * d + s * (o - 1) + 1, s) for k, d, s, o in zip(offset, dilation, stride, out_sp))
    return xp[(slice(None), slice(None)) + index]


def conv(op: ops.Conv, x, w, b=None):
    """float32, TFLite's order: taps (ky, kx) outer, input channels inner; bias last."""
    x, w = x.astype(F32), w.astype(F32)
    n, c_in = x.shape[:2]
    c_out, cin_g = w.shape[:2]
    groups = op.groups
    cout_g = c_out // groups
    out_sp = tuple(op.infer([x.shape, w.shape])[2:])
    xp = pad_spatial(x, op.pads, 0.0)
    wg = w.reshape(groups, cout_g, cin_g, *w.shape[2:])
    acc = np.zeros((n, groups, cout_g) + out_sp, dtype=F32)
    spread = (slice(None), slice(None), slice(None)) + (None,) * len(out_sp)
    for offset in itertools.product(*(range(k) for k in w.shape[2:])):
        tap = _tap(xp, offset, op.stride, op.dilation, out_sp).reshape(n, groups, cin_g, *out_sp)
        for ci in range(cin_g):
            acc += tap[:, :, ci][:, :, None] * wg[(slice(None), slice(None), ci) + offset][None][spread]
    acc = acc.reshape(n, c_out, *out_sp)
    if b is not None:
        acc = acc + b.astype(F32).reshape(_bias_shape(acc.ndim))
    return _clamp(acc, op.clamp)


def conv_transpose(op: ops.ConvTranspose, x, w, b=None):
    """float32, TFLite's order (``window.transpose_conv_accumulate``); bias last."""
    acc = transpose_conv_accumulate(x.astype(F32), w.astype(F32), op)
    if b is not None:
        acc = acc + b.astype(F32).reshape(_bias_shape(acc.ndim))
    return _clamp(acc, op.clamp)


def linear(op: ops.Linear, x, w, b=None):
    """float32, ``acc += x[k] * w[k]`` in k order; bias last."""
    x, w = x.astype(F32), w.astype(F32)
    acc = np.zeros((x.shape[0], w.shape[0]), dtype=F32)
    for k in range(w.shape[1]):
        acc += x[:, k:k + 1] * w[:, k][None]
    if b is not None:
        acc = acc + b.astype(F32)
    return _clamp(acc, op.clamp)


def batch_norm(op: ops.BatchNorm, x, gamma, beta, mean, var):
    shape = _bias_shape(x.ndim)
    inv = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + op.eps)
    return (x - mean.reshape(shape)) * inv.reshape(shape) + beta.reshape(shape)


def clip(op: ops.Clip, x):
    return _clamp(x.astype(F32), (op.lo, op.hi))


def leaky_relu(op: ops.LeakyRelu, x):
    x = x.astype(F32)
    return np.where(x >= 0, x, x * F32(op.alpha))


def hardsigmoid(op, x):
    return _relu6_plus3(x.astype(F32)) * F32(1.0 / 6.0)


def _relu6_plus3(x: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x + F32(3.0), F32(0.0)), F32(6.0))


def hardswish(op, x):
    x = x.astype(F32)
    return (x * _relu6_plus3(x)) / F32(6.0)


def sigmoid(op, x):
    return lut.sigmoid_math(x)


def silu(op, x):
    return lut.silu_math(op, x)


def gelu(op: ops.Gelu, x):
    return lut.gelu_math(op, x)


def add(op: ops.Add, a, b):
    return _clamp(a.astype(F32) + b.astype(F32), op.clamp)


def mul(op: ops.Mul, a, b):
    return _clamp(a.astype(F32) * b.astype(F32), op.clamp)


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


def _sum_last_axis_f32(flat: np.ndarray) -> np.ndarray:
    """Sum over the last axis in float32, one rounding per addition, first element first."""
    total = np.zeros(flat.shape[:-1], dtype=F32)
    for i in range(flat.shape[-1]):
        total += flat[..., i]
    return total


def _window_sum_f32(xp: np.ndarray, kernel: tuple, stride: tuple) -> np.ndarray:
    """Sum of each window in float32, adding the window's positions in row-major order."""
    win = windows(xp, kernel, stride, (1,) * len(kernel))
    return _sum_last_axis_f32(win.reshape(win.shape[:-len(kernel)] + (-1,)))


def avg_pool(op: ops.AvgPool, x):
    """float32: the window sum (padded positions add 0) divided by the count of positions that are
    real input (or explicit padding when ``count_include_pad``)."""
    xp, pads = _pool_input(x.astype(F32), op, 0.0)
    ones = np.ones((1, 1) + x.shape[2:], dtype=F32)
    mask_value_pad = 1.0 if op.count_include_pad else 0.0
    mask = pad_spatial(ones, tuple(op.pads), mask_value_pad)
    mask = pad_spatial(mask, tuple(p - q for p, q in zip(pads, op.pads)), 0.0) if pads != tuple(op.pads) else mask
    sums = _window_sum_f32(xp, op.kernel, op.stride)
    counts = _window_sum_f32(mask, op.kernel, op.stride)
    return _crop_to_infer(op, x, sums) / _crop_to_infer(op, x, counts)


def global_avg_pool(op: ops.GlobalAvgPool, x):
    """float32: the sum over the spatial positions in row-major order, divided by their number."""
    x = x.astype(F32)
    flat = x.reshape(x.shape[:2] + (-1,))
    mean = _sum_last_axis_f32(flat) / F32(flat.shape[-1])
    return mean.reshape(x.shape[:2] + (1,) * (x.ndim - 2)) if op.keepdims else mean


def reshape(op: ops.Reshape, x):
    return x.reshape(x.shape[0], *op.shape)


def transpose(op: ops.Transpose, x):
    return np.ascontiguousarray(x.transpose(op.perm))


def slice_axis(op: ops.Slice, x):
    return np.ascontiguousarray(np.take(x, np.arange(op.start, op.end), axis=op.axis))


def resize_nearest(op: ops.ResizeNearest, x):
    for axis, k in enumerate(op.factors(x.shape), start=2):
        x = np.repeat(x, k, axis=axis)
    return x


def resize_bilinear(op: ops.ResizeBilinear, x):
    """RESIZE_BILINEAR in float32 with the taps of ``quant/bilinear.py``, in TFLite's order:
    ``x00 * wy0 * wx0 + x10 * wy1 * wx0 + x01 * wy0 * wx1 + x11 * wy1 * wx1``, products and sums
    left to right (``x10``: row ``hi``, column ``lo``)."""
    x = x.astype(F32)
    ry = bilinear.float_taps(x.shape[2], op.size[0], op.align_corners)
    rx = bilinear.float_taps(x.shape[3], op.size[1], op.align_corners)
    top, bottom = x[:, :, ry.lo, :], x[:, :, ry.hi, :]
    wy0, wy1 = ry.w_lo[:, None], ry.w_hi[:, None]
    return (top[..., rx.lo] * wy0 * rx.w_lo + bottom[..., rx.lo] * wy1 * rx.w_lo
            + top[..., rx.hi] * wy0 * rx.w_hi + bottom[..., rx.hi] * wy1 * rx.w_hi)


def pad(op: ops.Pad, x):
    return pad_spatial(x, op.pads, op.value)


def softmax(op: ops.Softmax, x):
    z = x.astype(np.float64) * op.beta
    z = z - z.max(axis=op.axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=op.axis, keepdims=True)


def sign(op, x):
    return np.where(x >= op.threshold, 1.0, -1.0)


KERNELS = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "Linear": linear,
    "BatchNorm": batch_norm,
    "Clip": clip,
    "LeakyRelu": leaky_relu,
    "Hardswish": hardswish,
    "Hardsigmoid": hardsigmoid,
    "Sigmoid": sigmoid,
    "SiLU": silu,
    "Gelu": gelu,
    "Add": add,
    "Mul": mul,
    "Concat": concat,
    "MaxPool": max_pool,
    "AvgPool": avg_pool,
    "GlobalAvgPool": global_avg_pool,
    "Reshape": reshape,
    "Transpose": transpose,
    "Slice": slice_axis,
    "ResizeNearest": resize_nearest,
    "ResizeBilinear": resize_bilinear,
    "Pad": pad,
    "Softmax": softmax,
    "Sign": sign,
}

# IR ops without a float kernel, and why (``tests/unit/test_op_coverage.py`` reads this).
NOT_COVERED = {
    "Quantize": "float32 in, integers out: the executor runs its integer kernel",
    "Dequantize": "integers in: the executor runs its integer kernel",
}
