"""ConvTranspose -> TRANSPOSE_CONV (inputs: output shape, OHWI filter, input, bias).

TFLite's kernel (``reference_ops::TransposeConv`` and its int8 twin, which TFLite Micro runs)
scatters every input position onto the output tensor's rows and columns shifted up and left by
the padding it derives from ``Padding``: none for VALID, ``total // 2`` for SAME with ``total =
max((ceil(out / s) - 1) * s + k - out, 0)`` (``ComputePaddingHeightWidth`` read from the output
side). Products that fall outside the output are dropped, so the output is the scattered map from
that offset on, exactly the IR's ``pads[0]`` and ``pads[1]`` removed at the start and the output's
own size at the end. A layer whose start padding is neither VALID's nor SAME's is written as a VALID
TRANSPOSE_CONV onto a map that much larger, then STRIDED_SLICE (same quantization: the bytes are
copied). TRANSPOSE_CONV has no groups: a grouped layer is SPLIT along channels, one TRANSPOSE_CONV
per group (its filters, bias and per-channel scales) and CONCATENATION, exact as for grouped
CONV_2D (``conv.py``). int8: per-channel weights on axis 0 and an int32 bias (a zero bias when the
IR has none), requantized per channel as CONV_2D is; TFLite applies no fused activation here
(version 3 in ``versions.py``: the version with a bias input).
"""

from __future__ import annotations

from tflite.BuiltinOperator import BuiltinOperator as B
from tflite.Padding import Padding
from tflite.TensorType import TensorType

from ...ir import Node, ops
from .conv import bias_input, channel_slice
from .layout import conv_filter
from .lowering import Lowering, tfl_quant
from .options import options


def _same_offset(out: int, stride: int, kernel: int) -> int:
    """The rows TFLite's SAME padding removes at the start of a transposed conv's output."""
    return max((-(-out // stride) - 1) * stride + kernel - out, 0) // 2


def _output_shape(lower: Lowering, node: Node, src: int, shape: tuple) -> int:
    """The output shape input, ``[N, H, W, C]`` with ``N`` read from the input at run time (SHAPE,
    STRIDED_SLICE, CONCATENATION): LiteRT sizes the output from this tensor, and a constant batch
    would tie the model to the batch it was written with. TFLite Micro ignores the input."""
    dims = lower.temporary(node.name + "_input_shape", (4,), "int32", None)
    lower.op(B.SHAPE, [src], [dims], options("ShapeOptions", OutType=TensorType.INT32))
    batch = lower.temporary(node.name + "_batch", (1,), "int32", None)
    lower.op(B.STRIDED_SLICE, [dims, lower.int32_vector("begin", [0]), lower.int32_vector("end", [1]),
                               lower.int32_vector("strides", [1])], [batch], options("StridedSliceOptions"))
    out = lower.temporary(node.name + "_output_shape", (4,), "int32", None)
    lower.concatenate([batch, lower.int32_vector(node.name + "_output_hwc", shape[1:])], out, 0)
    return out


def write_conv_transpose(lower: Lowering, node: Node) -> None:
    op: ops.ConvTranspose = node.op
    w = lower.ir(node.input("weight"))
    src = lower.activation(node.input("x"))
    out = lower.output(node)
    n, h, width, c = lower.shape_of(out)
    start = (op.pads[0], op.pads[1])
    (sh, sw), (kh, kw) = op.stride, w.shape[2:]
    if start == (0, 0):
        padding, dst = Padding.VALID, out
    elif start == (_same_offset(h, sh, kh), _same_offset(width, sw, kw)):
        padding, dst = Padding.SAME, out
    else:
        padding = Padding.VALID
        dst = lower.like(out, node.output + "_uncropped", (n, h + start[0], width + start[1], c))
    per_group = c // op.groups
    shape = _output_shape(lower, node, src, (*lower.shape_of(dst)[:3], per_group))
    parts = _split_channels(lower, node, src, op.groups)
    results = [dst] if op.groups == 1 else [
        lower.like(dst, f"{node.name}_group{g}_out", (*lower.shape_of(dst)[:3], per_group)) for g in range(op.groups)]
    for g, (part, result) in enumerate(zip(parts, results)):
        channels = slice(g * per_group, (g + 1) * per_group)
        suffix = f"_group{g}" if op.groups > 1 else ""
        weight = lower.constant(w.name + suffix, conv_filter(w.data[channels]),
                                tfl_quant(channel_slice(w.quant, channels), 0))
        lower.op(B.TRANSPOSE_CONV, [shape, weight, part, bias_input(lower, node, channels, suffix)], [result],
                 options("TransposeConvOptions", Padding=padding, StrideW=sw, StrideH=sh))
    if op.groups > 1:
        lower.concatenate(results, dst, 3)
    if dst != out:
        begin, whole = [0, start[0], start[1], 0], 0b1001  # batch and channels whole
        lower.op(B.STRIDED_SLICE, [dst, lower.int32_vector("begin", begin), lower.int32_vector("end", [0, 0, 0, 0]),
                                   lower.int32_vector("strides", [1] * 4)], [out],
                 options("StridedSliceOptions", BeginMask=whole, EndMask=0b1111))


def _split_channels(lower: Lowering, node: Node, src: int, groups: int) -> list:
    """``src`` itself, or SPLIT along channels into ``groups`` tensors of its quantization."""
    if groups == 1:
        return [src]
    n, h, width, c = lower.shape_of(src)
    parts = [lower.like(src, f"{node.name}_group{g}_in", (n, h, width, c // groups)) for g in range(groups)]
    lower.op(B.SPLIT, [lower.int32_vector(node.name + "_split_axis", [3]), src], parts,
             options("SplitOptions", NumSplits=groups))
    return parts
