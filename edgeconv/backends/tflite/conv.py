"""Conv -> CONV_2D / DEPTHWISE_CONV_2D, Linear -> FULLY_CONNECTED.

int8 layers: int8 input, int8 per-channel weights (zero point 0, quantized_dimension 0 for
OHWI and FULLY_CONNECTED's OI, 3 for depthwise 1HWO), int32 bias with scale ``s_in * s_w[c]``
(a zero bias is written when the IR has none), int8 output; TFLite requantizes each channel's
int32 accumulator with ``QuantizeMultiplier(s_in * s_w[c] / s_out)`` as the IR does. DoReFa
and XNOR layers are such int8 layers whose weights and activations occupy few levels.
1-D convolutions run as 2-D ones on ``(N, 1, L, C)`` views.

A grouped convolution that is not depthwise is written as SPLIT of the (padded) input along
channels, one CONV_2D per group (that group's filters, bias and per-channel scales) and a
CONCATENATION of the results. Each group's CONV_2D computes exactly the accumulators and
requantization of the IR's grouped conv for its output channels, and CONCATENATION of tensors
that share the output's quantization copies bytes, so the split is exact. TFLite's own grouped
form (a CONV_2D whose filter has fewer input channels than its input, op version 6) needs a
runtime with grouped-conv support; the split uses only ops every int8 TFLite runtime has.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from tflite.BuiltinOperator import BuiltinOperator as B

from ...ir import Node, QuantParams, ops
from . import activation
from .lowering import Lowering, tfl_quant
from .layout import conv_filter, depthwise_filter
from .options import options
from .padding import Window, windowed_input


def bias_input(lower: Lowering, node: Node, channels: slice = slice(None), suffix: str = "") -> int:
    """The bias of output ``channels`` (all by default); a zero bias when the IR has none."""
    name = node.input("bias")
    w = lower.ir(node.input("weight"))
    count = len(range(w.shape[0])[channels])
    if name is not None:
        b = lower.ir(name)
        return lower.constant(name + suffix, b.data[channels], tfl_quant(channel_slice(b.quant, channels), 0))
    if w.dtype == "float32":
        return lower.constant(node.name + "_bias" + suffix, np.zeros(count, dtype=np.float32))
    x = lower.ir(node.input("x"))
    scale = x.quant.scale[0] * channel_slice(w.quant, channels).scale
    return lower.constant(node.name + "_bias" + suffix, np.zeros(count, dtype=np.int32),
                          tfl_quant(_per_channel(scale), 0))


def _per_channel(scale: np.ndarray) -> QuantParams:
    return QuantParams(scale, np.zeros(scale.size, dtype=np.int64), axis=0)


def _is_depthwise(op: ops.Conv, weight_shape: tuple) -> bool:
    return op.groups > 1 and weight_shape[1] == 1


def _as_2d_input(lower: Lowering, node: Node) -> int:
    src = lower.activation(node.input("x"))
    shape = lower.shape_of(src)
    if len(shape) == 4:
        return src
    n, length, c = shape
    return lower.reshape(src, (n, 1, length, c))


def _as_2d_output(lower: Lowering, write: Callable[[int, int], None]) -> Callable[[int, int], None]:
    """``write(dst, fused)`` made to accept a rank-3 ``dst``: the 2-D op writes a height-1 view,
    reshaped into ``dst``."""
    def write_node_output(dst: int, fused: int) -> None:
        shape = lower.shape_of(dst)
        if len(shape) == 4:
            write(dst, fused)
            return
        n, length, c = shape
        view = lower.like(dst, lower.model.tensors[dst].name + "_2d", (n, 1, length, c))
        write(view, fused)
        lower.reshape(view, shape, dst)
    return write_node_output


def write_conv(lower: Lowering, node: Node) -> None:
    op: ops.Conv = node.op
    w = lower.ir(node.input("weight"))
    c_out = w.shape[0]
    geometry = Window.of(w.shape[2:], op.stride, op.dilation, op.pads)
    x_tensor = lower.ir(node.input("x"))
    pad_value = 0.0 if x_tensor.quant is None else int(x_tensor.quant.zero_point[0])
    src, padding = windowed_input(lower, _as_2d_input(lower, node), geometry, pad_value)
    depthwise = _is_depthwise(op, w.shape)
    if op.groups > 1 and not depthwise:
        activation.emit(lower, node, op.clamp, _as_2d_output(
            lower, lambda dst, fused: _write_groups(lower, node, src, padding, geometry, dst, fused)))
        return
    if depthwise:
        weight = lower.constant(w.name, depthwise_filter(w.data), tfl_quant(w.quant, 3))
    else:
        weight = lower.constant(w.name, conv_filter(w.data), tfl_quant(w.quant, 0))
    bias = bias_input(lower, node)
    (sh, sw), (dh, dw) = geometry.stride, geometry.dilation

    def write(dst: int, fused: int) -> None:
        if depthwise:
            opts = options("DepthwiseConv2DOptions", Padding=padding, StrideW=sw, StrideH=sh,
                           DepthMultiplier=c_out // x_tensor.shape[1], FusedActivationFunction=fused,
                           DilationWFactor=dw, DilationHFactor=dh)
            lower.op(B.DEPTHWISE_CONV_2D, [src, weight, bias], [dst], opts,
                     version=3 if w.dtype == "int8" else (2 if (dh, dw) != (1, 1) else 1))
        else:
            opts = options("Conv2DOptions", Padding=padding, StrideW=sw, StrideH=sh,
                           FusedActivationFunction=fused, DilationWFactor=dw, DilationHFactor=dh)
            lower.op(B.CONV_2D, [src, weight, bias], [dst], opts)

    activation.emit(lower, node, op.clamp, _as_2d_output(lower, write))


def channel_slice(q: Optional[QuantParams], channels: slice) -> Optional[QuantParams]:
    """Per-channel parameters of the output channels ``channels`` (per-tensor ones unchanged)."""
    if q is None or not q.per_channel:
        return q
    return QuantParams(q.scale[channels], q.zero_point[channels], axis=0, qmin=q.qmin, qmax=q.qmax)


def _write_groups(lower: Lowering, node: Node, src: int, padding: int, geometry: Window,
                  dst: int, fused: int) -> None:
    """SPLIT ``src`` (NHWC, already padded) into the groups, one CONV_2D each, CONCATENATION."""
    op: ops.Conv = node.op
    w = lower.ir(node.input("weight"))
    per_group = w.shape[0] // op.groups
    n, h, width, c_in = lower.shape_of(src)
    parts = [lower.like(src, f"{node.name}_group{g}_in", (n, h, width, c_in // op.groups))
             for g in range(op.groups)]
    lower.op(B.SPLIT, [lower.int32_vector(node.name + "_split_axis", [3]), src], parts,
             options("SplitOptions", NumSplits=op.groups))
    (sh, sw), (dh, dw) = geometry.stride, geometry.dilation
    out_shape = lower.shape_of(dst)
    results = []
    for g, part in enumerate(parts):
        channels = slice(g * per_group, (g + 1) * per_group)
        weight = lower.constant(f"{w.name}_group{g}", conv_filter(w.data[channels]),
                                tfl_quant(channel_slice(w.quant, channels), 0))
        bias = bias_input(lower, node, channels, f"_group{g}")
        out = lower.like(dst, f"{node.name}_group{g}_out", (*out_shape[:3], per_group))
        lower.op(B.CONV_2D, [part, weight, bias], [out],
                 options("Conv2DOptions", Padding=padding, StrideW=sw, StrideH=sh,
                         FusedActivationFunction=fused, DilationWFactor=dw, DilationHFactor=dh))
        results.append(out)
    lower.concatenate(results, dst, 3)


def write_linear(lower: Lowering, node: Node) -> None:
    op: ops.Linear = node.op
    w = lower.ir(node.input("weight"))
    src = lower.activation(node.input("x"))
    weight = lower.constant(w.name, w.data, tfl_quant(w.quant, 0))
    bias = bias_input(lower, node)

    def write(dst: int, fused: int) -> None:
        opts = options("FullyConnectedOptions", FusedActivationFunction=fused)
        lower.op(B.FULLY_CONNECTED, [src, weight, bias], [dst], opts)

    activation.emit(lower, node, op.clamp, write)
