"""IR op -> ONNX nodes (opset 21), one small function per op, NCHW as the IR.

Each function writes the float computation into ``emitter.result(node, clamp)`` and calls
``emitter.finish(node, clamp)``, which adds the fused clamp and, for int8 outputs, the
QuantizeLinear/DequantizeLinear pair (see ``emitter``). int8 activations, int8 -> int8 Quantize
and int8 Mul are written on the integer codes instead (``integer``), as the reference computes them.
"""

from __future__ import annotations

import numpy as np

from ...ir import Node
from . import integer, resize
from .emitter import Emitter


def _spatial(pads: tuple) -> dict:
    return {"pads": list(pads)}


def conv(e: Emitter, node: Node) -> None:
    op = node.op
    inputs = [e.value(node.input("x")), *e.weight_and_bias(node)]
    kernel = list(e.graph.tensors[node.input("weight")].shape[2:])
    e.add("Conv", inputs, [e.result(node, op.clamp)], kernel_shape=kernel, strides=list(op.stride),
          dilations=list(op.dilation), group=op.groups, **_spatial(op.pads))
    e.finish(node, op.clamp)


def conv_transpose(e: Emitter, node: Node) -> None:
    """ConvTranspose reads weights ``(C_in, C_out / group, kh, kw)``: the IR's output-channel-first
    weights (dequantized per channel on axis 0) are reordered per group (Reshape to (group, C_out /
    group, C_in / group, kh, kw), Transpose of the two channel axes, Reshape; the IR's
    ``input_channel_first``); the output size rule is the IR's."""
    op = node.op
    weight, *bias = e.weight_and_bias(node)
    _, cin_g, *kernel = e.graph.tensors[node.input("weight")].shape
    grouped, swapped, reordered = (e.unique(f"{weight}_{step}") for step in ("grouped", "swapped", "io"))
    e.add("Reshape", [weight, e.initializer(f"{weight}_groups", np.array([op.groups, -1, cin_g, *kernel]))], [grouped])
    e.add("Transpose", [grouped], [swapped], perm=[0, 2, 1, 3, 4])
    e.add("Reshape", [swapped, e.initializer(f"{weight}_shape", np.array([op.groups * cin_g, -1, *kernel]))], [reordered])
    e.add("ConvTranspose", [e.value(node.input("x")), reordered, *bias], [e.result(node, op.clamp)],
          kernel_shape=kernel, strides=list(op.stride), output_padding=list(op.output_padding), group=op.groups,
          **_spatial(op.pads))
    e.finish(node, op.clamp)


def linear(e: Emitter, node: Node) -> None:
    op = node.op
    inputs = [e.value(node.input("x")), *e.weight_and_bias(node)]
    e.add("Gemm", inputs, [e.result(node, op.clamp)], transB=1)
    e.finish(node, op.clamp)


def _binary(op_type: str):
    def write(e: Emitter, node: Node) -> None:
        if op_type == "Mul" and all(e.graph.tensors[n].dtype == "int8" for n in (*node.inputs, node.output)):
            integer.mul(e, node)
            return
        a, b = (e.value(n) for n in node.inputs)
        e.add(op_type, [a, b], [e.result(node, node.op.clamp)])
        e.finish(node, node.op.clamp)
    return write


def _unary(op_type: str, **attr_of):
    def write(e: Emitter, node: Node) -> None:
        if integer.is_int8_elementwise(e, node):
            integer.lookup(e, node)
            return
        attrs = {k: (f(node.op) if callable(f) else f) for k, f in attr_of.items()}
        e.add(op_type, [e.value(node.input("x"))], [e.result(node)], **attrs)
        e.finish(node)
    return write


def clip(e: Emitter, node: Node) -> None:
    clamp = (node.op.lo, node.op.hi)
    e.add("Identity", [e.value(node.input("x"))], [e.result(node, clamp)])
    e.finish(node, clamp)


def silu(e: Emitter, node: Node) -> None:
    if integer.is_int8_elementwise(e, node):
        integer.lookup(e, node)
        return
    x = e.value(node.input("x"))
    gate = e.unique(node.output + "_sigmoid")
    e.add("Sigmoid", [x], [gate])
    e.add("Mul", [x, gate], [e.result(node)])
    e.finish(node)


def batch_norm(e: Emitter, node: Node) -> None:
    inputs = [e.value(node.input(s)) for s in ("x", "gamma", "beta", "mean", "var")]
    e.add("BatchNormalization", inputs, [e.result(node)], epsilon=float(node.op.eps))
    e.finish(node)


def sign(e: Emitter, node: Node) -> None:
    """``x >= threshold -> +1 else -1``; on a dequantized int8 input this is exact: the threshold
    is 0 (``q >= zp``) or halfway between two grid values."""
    x = e.value(node.input("x"))
    nonnegative = e.unique(node.output + "_nonnegative")
    e.add("GreaterOrEqual", [x, e.scalar(node.output + "_threshold", node.op.threshold)], [nonnegative])
    e.add("Where", [nonnegative, e.scalar(node.output + "_plus_one", 1.0), e.scalar(node.output + "_minus_one", -1.0)],
          [e.result(node)])
    e.finish(node)


def concat(e: Emitter, node: Node) -> None:
    e.add("Concat", [e.value(n) for n in node.inputs], [e.result(node)], axis=node.op.axis)
    e.finish(node, keeps_grid=True)


def max_pool(e: Emitter, node: Node) -> None:
    op = node.op
    e.add("MaxPool", [e.value(node.input("x"))], [e.result(node)], kernel_shape=list(op.kernel),
          strides=list(op.stride), dilations=list(op.dilation), ceil_mode=int(op.ceil_mode), **_spatial(op.pads))
    e.finish(node, keeps_grid=True)


def avg_pool(e: Emitter, node: Node) -> None:
    op = node.op
    e.add("AveragePool", [e.value(node.input("x"))], [e.result(node)], kernel_shape=list(op.kernel),
          strides=list(op.stride), ceil_mode=int(op.ceil_mode), count_include_pad=int(op.count_include_pad),
          **_spatial(op.pads))
    e.finish(node, keeps_grid=True)


def global_avg_pool(e: Emitter, node: Node) -> None:
    x = e.value(node.input("x"))
    if node.op.keepdims:
        e.add("GlobalAveragePool", [x], [e.result(node)])
    else:
        pooled = e.unique(node.output + "_pooled")
        e.add("GlobalAveragePool", [x], [pooled])
        e.add("Flatten", [pooled], [e.result(node)], axis=1)
    e.finish(node, keeps_grid=True)


def reshape(e: Emitter, node: Node) -> None:
    """Batch kept: ONNX shape ``[0, *shape]`` (0 copies the input's batch)."""
    shape = e.initializer(node.output + "_shape", np.array([0, *node.op.shape], dtype=np.int64))
    e.add("Reshape", [e.value(node.input("x")), shape], [e.result(node)])
    e.finish(node, keeps_grid=True)


def transpose(e: Emitter, node: Node) -> None:
    e.add("Transpose", [e.value(node.input("x"))], [e.result(node)], perm=list(node.op.perm))
    e.finish(node, keeps_grid=True)


def slice_axis(e: Emitter, node: Node) -> None:
    op = node.op
    bounds = [e.initializer(f"{node.output}_{what}", np.array([v], dtype=np.int64))
              for what, v in (("starts", op.start), ("ends", op.end), ("axes", op.axis))]
    e.add("Slice", [e.value(node.input("x")), *bounds], [e.result(node)])
    e.finish(node, keeps_grid=True)


def resize_nearest(e: Emitter, node: Node) -> None:
    """Resize (nearest, asymmetric coordinates, floor): output ``i`` reads input ``i // k``."""
    x = node.input("x")
    factors = node.op.factors(e.graph.tensors[x].shape)
    scales = e.initializer(node.output + "_scales", np.array([1, 1, *factors], dtype=np.float32))
    e.add("Resize", [e.value(x), "", scales], [e.result(node)], mode="nearest",
          coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    e.finish(node, keeps_grid=True)


def pad(e: Emitter, node: Node) -> None:
    op = node.op
    r = len(op.pads) // 2
    pads = [0, 0, *op.pads[:r], 0, 0, *op.pads[r:]]
    e.add("Pad", [e.value(node.input("x")), e.initializer(node.output + "_pads", np.array(pads, dtype=np.int64)),
                  e.scalar(node.output + "_value", float(op.value))], [e.result(node)], mode="constant")
    e.finish(node, keeps_grid=True)


def softmax(e: Emitter, node: Node) -> None:
    x = e.value(node.input("x"))
    if node.op.beta != 1.0:
        scaled = e.unique(node.output + "_scaled")
        e.add("Mul", [x, e.scalar(node.output + "_beta", float(node.op.beta))], [scaled])
        x = scaled
    e.add("Softmax", [x], [e.result(node)], axis=node.op.axis)
    e.finish(node)


def quantize(e: Emitter, node: Node) -> None:
    """float -> int8: the value on the output's grid, still float in ONNX; int8 -> int8 (TFLite's
    requantization, rounding twice) as a table."""
    if integer.is_int8_elementwise(e, node):
        integer.lookup(e, node)
        return
    e.add("Identity", [e.value(node.input("x"))], [e.result(node)])
    e.finish(node)


def dequantize(e: Emitter, node: Node) -> None:
    """Values are already float in ONNX: an Identity."""
    e.add("Identity", [e.value(node.input("x"))], [node.output])


OP_WRITERS = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "Linear": linear,
    "BatchNorm": batch_norm,
    "Clip": clip,
    "LeakyRelu": _unary("LeakyRelu", alpha=lambda op: float(op.alpha)),
    "Hardswish": _unary("HardSwish"),
    "Hardsigmoid": _unary("HardSigmoid", alpha=1.0 / 6.0, beta=0.5),
    "Sigmoid": _unary("Sigmoid"),
    "SiLU": silu,
    "Gelu": _unary("Gelu", approximate=lambda op: op.approximate),
    "Add": _binary("Add"),
    "Mul": _binary("Mul"),
    "Concat": concat,
    "MaxPool": max_pool,
    "AvgPool": avg_pool,
    "GlobalAvgPool": global_avg_pool,
    "Reshape": reshape,
    "Transpose": transpose,
    "Slice": slice_axis,
    "ResizeNearest": resize_nearest,
    "ResizeBilinear": resize.resize_bilinear,
    "Pad": pad,
    "Softmax": softmax,
    "Sign": sign,
    "Quantize": quantize,
    "Dequantize": dequantize,
}
