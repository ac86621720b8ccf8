"""Float meaning of every IR op in torch, differentiable; mirrors ``reference/float_kernels.py``.

Each rule is ``fn(op, *inputs) -> tensor`` on channels-first tensors with the batch in dim 0.
Asymmetric padding is applied explicitly (``F.pad``) so every conv and pool runs with zero
implicit padding, exactly as the IR's ``pads = (begins..., ends...)`` says.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..ir import ops

_CONV = {1: F.conv1d, 2: F.conv2d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d}


def torch_pads(pads: tuple) -> tuple:
    """IR ``(begin_0.., end_0..)`` -> ``F.pad``'s ``(begin_last, end_last, ..., begin_0, end_0)``."""
    r = len(pads) // 2
    out = []
    for i in reversed(range(r)):
        out += [pads[i], pads[r + i]]
    return tuple(out)


def pad_spatial(x: torch.Tensor, pads: tuple, value: float) -> torch.Tensor:
    if not any(pads):
        return x
    return F.pad(x, torch_pads(pads), mode="constant", value=value)


def apply_clamp(y: torch.Tensor, clamp: tuple) -> torch.Tensor:
    lo, hi = clamp
    if lo is not None or hi is not None:
        y = torch.clamp(y, min=lo, max=hi)
    return y


def conv_linear(op, x, w, b=None):
    """Conv, ConvTranspose or Linear without its clamp (the caller clamps, in float or in the
    quantized grid)."""
    if isinstance(op, ops.Linear):
        return F.linear(x, w, b)
    if isinstance(op, ops.ConvTranspose):  # the full scattered map, then ``pads`` removed
        y = F.conv_transpose2d(x, op.input_channel_first(w), b, stride=op.stride,
                               output_padding=op.output_padding, groups=op.groups)
        return y[:, :, op.pads[0]:y.shape[2] - op.pads[2], op.pads[1]:y.shape[3] - op.pads[3]]
    begins, ends = op.pads[:op.rank], op.pads[op.rank:]
    if begins == ends:  # symmetric zero padding: the convolution pads, without a padded copy
        return _CONV[op.rank](x, w, b, stride=op.stride, padding=tuple(begins), dilation=op.dilation, groups=op.groups)
    x = pad_spatial(x, op.pads, 0.0)
    return _CONV[op.rank](x, w, b, stride=op.stride, dilation=op.dilation, groups=op.groups)


def conv(op, x, w, b=None):
    return apply_clamp(conv_linear(op, x, w, b), op.clamp)


def batch_norm(op: ops.BatchNorm, x, gamma, beta, mean, var):
    shape = (1, -1) + (1,) * (x.dim() - 2)
    inv = gamma / torch.sqrt(var + op.eps)
    return (x - mean.reshape(shape)) * inv.reshape(shape) + beta.reshape(shape)


def _ceil_end_pads(x: torch.Tensor, op) -> tuple:
    """Pads with the end padding extended so the last partial window of ``ceil_mode`` exists."""
    r = len(op.kernel)
    pads = list(op.pads)
    if op.ceil_mode:
        for i in range(r):
            size = x.shape[2 + i] + pads[i] + pads[r + i]
            rem = (size - op.kernel[i]) % op.stride[i]
            if rem:
                pads[r + i] += op.stride[i] - rem
    return tuple(pads)


def _crop_to(y: torch.Tensor, op, x: torch.Tensor) -> torch.Tensor:
    want = op.infer([tuple(x.shape)])
    index = (slice(None), slice(None)) + tuple(slice(0, d) for d in want[2:])
    return y[index]


def max_pool(op: ops.MaxPool, x):
    xp = pad_spatial(x, _ceil_end_pads(x, op), float("-inf"))
    y = _MAX_POOL[len(op.kernel)](xp, op.kernel, op.stride, 0, op.dilation)
    return _crop_to(y, op, x)


def avg_pool_terms(op: ops.AvgPool, x) -> tuple:
    """Per output position, the sum of ``x`` over the window and the window's count (explicit
    padding counted with ``count_include_pad``; positions added by ``ceil_mode`` never)."""
    r = len(op.kernel)
    pads = _ceil_end_pads(x, op)
    window = 1
    for k in op.kernel:
        window *= k
    sums = _AVG_POOL[r](pad_spatial(x, pads, 0.0), op.kernel, op.stride) * window
    ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
    mask = pad_spatial(ones, op.pads, 1.0 if op.count_include_pad else 0.0)
    mask = pad_spatial(mask, tuple(p - q for p, q in zip(pads, op.pads)), 0.0)
    counts = _AVG_POOL[r](mask, op.kernel, op.stride) * window
    return _crop_to(sums, op, x), _crop_to(counts, op, x)


def avg_pool(op: ops.AvgPool, x):
    sums, counts = avg_pool_terms(op, x)
    return sums / counts


def global_avg_pool(op: ops.GlobalAvgPool, x):
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=op.keepdims)


def softmax(op: ops.Softmax, x):
    return torch.softmax(x * op.beta, dim=op.axis)


def sign(op, x):
    return torch.where(x >= op.threshold, 1.0, -1.0).to(x.dtype)


KERNELS = {
    "Conv": conv,
    "ConvTranspose": conv,
    "Linear": conv,
    "BatchNorm": batch_norm,
    "Clip": lambda op, x: apply_clamp(x, (op.lo, op.hi)),
    "LeakyRelu": lambda op, x: F.leaky_relu(x, op.alpha),
    "Hardswish": lambda op, x: F.hardswish(x),
    "Hardsigmoid": lambda op, x: F.hardsigmoid(x),
    "Sigmoid": lambda op, x: torch.sigmoid(x),
    "SiLU": lambda op, x: F.silu(x),
    "Gelu": lambda op, x: F.gelu(x, approximate=op.approximate),
    "Add": lambda op, a, b: apply_clamp(a + b, op.clamp),
    "Mul": lambda op, a, b: apply_clamp(a * b, op.clamp),
    "Concat": lambda op, *xs: torch.cat(xs, dim=op.axis),
    "MaxPool": max_pool,
    "AvgPool": avg_pool,
    "GlobalAvgPool": global_avg_pool,
    "Reshape": lambda op, x: x.reshape(x.shape[0], *op.shape),
    "Transpose": lambda op, x: x.permute(*op.perm),
    "Slice": lambda op, x: x.narrow(op.axis, op.start, op.end - op.start),
    "ResizeNearest": lambda op, x: F.interpolate(x, size=op.size, mode="nearest"),
    "ResizeBilinear": lambda op, x: F.interpolate(x, size=op.size, mode="bilinear", align_corners=op.align_corners),
    "Pad": lambda op, x: pad_spatial(x, op.pads, op.value),
    "Softmax": softmax,
    "Sign": sign,
    # Values travel as real numbers, a quantized tensor's as ``s * (q - zp)``: already dequantized.
    "Dequantize": lambda op, x: x,
}
