"""Data movement, pooling, softmax and (de)quantization.

Ops whose int8 TFLite kernels keep the input's quantization (pools, reshape, pad, concat) are
written into a tensor with the input's parameters and requantized (QUANTIZE int8 -> int8) when
the IR output's parameters differ. Pools pad explicitly when TFLite's SAME cannot express the IR:
max pooling with the lowest value (-128, or the float32 minimum), average pooling that counts
padded positions with the input's zero.
"""

from __future__ import annotations

import numpy as np
from tflite.BuiltinOperator import BuiltinOperator as B
from tflite.Padding import Padding

from ...errors import UserError
from ...ir import Node, ops
from ...quant.activation_range import quantize_scalar
from . import activation
from .layout import channels_last_axis
from .lowering import Lowering
from .options import options
from .padding import Window, pad_explicitly, tflite_padding


def write_reshape(lower: Lowering, node: Node) -> None:
    """IR reshapes order elements channels-first: transpose NHWC -> NCHW around the reshape
    unless the spatial dims are all 1 (where both orders agree)."""
    src = lower.activation(node.input("x"))
    in_shape = lower.ir(node.input("x")).shape
    out_shape = lower.ir(node.output).shape
    dst, finish = lower.into(node, src)
    rank_in, rank_out = len(in_shape), len(out_shape)
    if rank_in >= 3 and np.prod(in_shape[2:]) > 1:
        src = lower.transpose(src, (0, rank_in - 1, *range(1, rank_in - 1)))
    if rank_out >= 3 and np.prod(out_shape[2:]) > 1:
        channels_first = lower.reshape(src, tuple(out_shape))
        lower.op(B.TRANSPOSE, [channels_first, lower.int32_vector("perm", (0, *range(2, rank_out), 1))], [dst],
                 options("TransposeOptions"))
    else:
        lower.reshape(src, lower.shape_of(dst), dst)
    finish()


def _channels_last_order(rank: int) -> list:
    """The IR dims in the order TFLite stores them (``layout.channels_last_shape``)."""
    return [0, *range(2, rank), 1] if rank >= 3 else list(range(rank))


def write_transpose(lower: Lowering, node: Node) -> None:
    """TRANSPOSE with the IR permutation seen through both tensors' channels-last layouts: with
    ``L`` the stored order of a rank-r tensor, the stored output is the stored input permuted by
    ``argsort(L)[perm[L]]``. TFLite numbers a 5-D transpose version 4."""
    perm = node.op.perm
    rank = len(perm)
    order = _channels_last_order(rank)
    stored = [int(np.argsort(order)[perm[i]]) for i in order]
    src = lower.activation(node.input("x"))
    dst, finish = lower.into(node, src)
    version = 4 if rank == 5 else None
    lower.op(B.TRANSPOSE, [src, lower.int32_vector("perm", stored)], [dst], options("TransposeOptions"),
             version=version)
    finish()


def write_slice(lower: Lowering, node: Node) -> None:
    """STRIDED_SLICE of ``start:end`` along the stored axis; every other dim (the batch too) is
    whole through ``begin_mask``/``end_mask``, so the model stays batch-agnostic (LiteRT's SLICE
    keeps the output shape it was written with and refuses another batch)."""
    op: ops.Slice = node.op
    rank = len(lower.ir(node.output).shape)
    axis = channels_last_axis(op.axis, rank)
    begin, end = [0] * rank, [0] * rank
    begin[axis], end[axis] = op.start, op.end
    whole = sum(1 << i for i in range(rank) if i != axis)
    src = lower.activation(node.input("x"))
    dst, finish = lower.into(node, src)
    lower.op(B.STRIDED_SLICE, [src, lower.int32_vector("begin", begin), lower.int32_vector("end", end),
                               lower.int32_vector("strides", [1] * rank)], [dst],
             options("StridedSliceOptions", BeginMask=whole, EndMask=whole))
    finish()


def write_resize_nearest(lower: Lowering, node: Node) -> None:
    """RESIZE_NEAREST_NEIGHBOR without corner alignment or half-pixel centers: at an integer factor
    ``k`` TFLite's ``min(floor(i * (in / out)), in - 1)`` is ``i // k``."""
    src = lower.activation(node.input("x"))
    dst, finish = lower.into(node, src)
    lower.op(B.RESIZE_NEAREST_NEIGHBOR, [src, lower.int32_vector("size", list(node.op.size))], [dst],
             options("ResizeNearestNeighborOptions", AlignCorners=False, HalfPixelCenters=False))
    finish()


def write_resize_bilinear(lower: Lowering, node: Node) -> None:
    """RESIZE_BILINEAR: PyTorch's ``align_corners=False`` is TFLite's ``half_pixel_centers=True``
    (op version 3, as TFLite's versioning numbers it), ``align_corners=True`` TFLite's own. The int8
    kernel runs on the codes: input and output share one grid (``lower.into``)."""
    align = bool(node.op.align_corners)
    src = lower.activation(node.input("x"))
    dst, finish = lower.into(node, src)
    lower.op(B.RESIZE_BILINEAR, [src, lower.int32_vector("size", list(node.op.size))], [dst],
             options("ResizeBilinearOptions", AlignCorners=align, HalfPixelCenters=not align),
             version=None if align else 3)
    finish()


def write_concat(lower: Lowering, node: Node) -> None:
    out = lower.ir(node.output)
    axis = channels_last_axis(node.op.axis, len(out.shape))
    inputs = []
    for name in node.inputs:
        src = lower.activation(name)
        if out.quant is not None and lower.ir(name).quant != out.quant:
            same = lower.temporary(name + "_requantized", lower.shape_of(src), out.dtype, out.quant)
            lower.requantize(src, same)
            src = same
        inputs.append(src)
    lower.concatenate(inputs, lower.output(node), axis)


def _raw_value(lower: Lowering, name: str, real: float):
    """The stored value of the real ``real`` in tensor ``name`` (``quantize_scalar`` for int8)."""
    t = lower.ir(name)
    if t.quant is None:
        return np.float32(real)
    return quantize_scalar(real, t.quant)


def write_pad(lower: Lowering, node: Node) -> None:
    op: ops.Pad = node.op
    src = lower.activation(node.input("x"))
    value = _raw_value(lower, node.input("x"), op.value)
    dst, finish = lower.into(node, src)
    pad_explicitly(lower, src, tuple(op.pads), value, dst)
    finish()


def _pool_pads(op, size: tuple) -> tuple:
    """IR pool pads, extended at the end where ceil_mode adds a partial last window."""
    r = len(op.kernel)
    pads = list(op.pads)
    if op.ceil_mode:
        for i in range(r):
            room = size[i] + pads[i] + pads[r + i] - op.kernel[i]
            if room % op.stride[i]:
                pads[r + i] += op.stride[i] - room % op.stride[i]
    return tuple(pads)


def _max_pool_input(lower: Lowering, node: Node, src: int, w: Window) -> tuple:
    """SAME ignores padded positions as the IR's -inf padding does; else pad with the lowest value."""
    padding = tflite_padding(lower.shape_of(src)[1:3], w)
    if padding is not None:
        return src, padding
    return pad_explicitly(lower, src, w.pads, _lowest(lower.dtype_of(src))), Padding.VALID


def _avg_pool_input(lower: Lowering, node: Node, src: int, w: Window) -> tuple:
    """TFLite SAME divides by the in-input count (count_include_pad=False); counting padded
    positions is an explicit zero pad, then VALID."""
    op = node.op
    padding = tflite_padding(lower.shape_of(src)[1:3], w)
    extended = w.pads != Window.of(op.kernel, op.stride, (1,) * len(op.kernel), op.pads).pads
    if not any(w.pads):
        return src, Padding.VALID
    if op.count_include_pad and not extended:
        return pad_explicitly(lower, src, w.pads, _raw_value(lower, node.input("x"), 0.0)), Padding.VALID
    if not op.count_include_pad and padding == Padding.SAME:
        return src, Padding.SAME
    raise UserError(f"node {node.name}: average pooling with pads {op.pads} (ceil_mode={op.ceil_mode}, "
                    f"count_include_pad={op.count_include_pad}) has no TFLite equivalent")


def _pool(builtin: int, pool_input):
    def write_pool(lower: Lowering, node: Node) -> None:
        op = node.op
        rank = len(op.kernel)
        if getattr(op, "dilation", (1,) * rank) != (1,) * rank:
            raise UserError(f"node {node.name}: dilated pooling has no TFLite builtin")
        x = lower.ir(node.input("x"))
        w = Window.of(op.kernel, op.stride, (1,) * rank, _pool_pads(op, x.shape[2:]))
        first = lower.activation(node.input("x"))
        src = first
        if rank == 1:
            n, length, c = lower.shape_of(src)
            src = lower.reshape(src, (n, 1, length, c))
        src, padding = pool_input(lower, node, src, w)
        dst, finish = lower.into(node, first)
        pooled = dst
        if rank == 1:
            n, length, c = lower.shape_of(dst)
            pooled = lower.like(dst, node.output + "_2d", (n, 1, length, c))
        opts = options("Pool2DOptions", Padding=padding, StrideW=w.stride[1], StrideH=w.stride[0],
                       FilterWidth=w.kernel[1], FilterHeight=w.kernel[0],
                       FusedActivationFunction=activation.Act.NONE)
        lower.op(builtin, [src], [pooled], opts)
        if rank == 1:
            lower.reshape(pooled, lower.shape_of(dst), dst)
        finish()
    return write_pool


def _lowest(dtype: str):
    return -128 if dtype == "int8" else np.float32(np.finfo(np.float32).min)


write_max_pool = _pool(B.MAX_POOL_2D, _max_pool_input)
write_avg_pool = _pool(B.AVERAGE_POOL_2D, _avg_pool_input)


def write_global_avg_pool(lower: Lowering, node: Node) -> None:
    """MEAN over the spatial axes (1 .. rank-2 channels-last); int8 MEAN requantizes itself."""
    rank = len(lower.ir(node.input("x")).shape)
    axes = lower.int32_vector("axes", list(range(1, rank - 1)))
    lower.op(B.MEAN, [lower.activation(node.input("x")), axes], [lower.output(node)],
             options("ReducerOptions", KeepDims=bool(node.op.keepdims)))


def write_softmax(lower: Lowering, node: Node) -> None:
    rank = len(lower.ir(node.output).shape)
    if channels_last_axis(node.op.axis, rank) != rank - 1:
        raise UserError(f"node {node.name}: softmax over axis {node.op.axis} is not the channel axis")
    lower.op(B.SOFTMAX, [lower.activation(node.input("x"))], [lower.output(node)],
             options("SoftmaxOptions", Beta=float(node.op.beta)))


def write_quantize(lower: Lowering, node: Node) -> None:
    """QUANTIZE (float -> int8 v1, int8 -> int8 v2) clamps to int8; a tensor on fewer levels
    (DoReFa: ``[qmin, qmax]`` inside int8) gets MAXIMUM/MINIMUM after it."""
    src = lower.activation(node.input("x"))
    version = 2 if lower.dtype_of(src) == "int8" else 1
    q = lower.ir(node.output).quant
    low = None if q.qmin == activation.INT8_MIN else q.qmin
    high = None if q.qmax == activation.INT8_MAX else q.qmax
    out = lower.output(node)
    dst = out if low is None and high is None else lower.like(out, node.output + "_unclamped")
    lower.op(B.QUANTIZE, [src], [dst], options("QuantizeOptions"), version=version)
    if dst != out:
        activation.emit_clamp(lower, node, dst, low, high)


def write_dequantize(lower: Lowering, node: Node) -> None:
    lower.op(B.DEQUANTIZE, [lower.activation(node.input("x"))], [lower.output(node)],
             options("DequantizeOptions"))
