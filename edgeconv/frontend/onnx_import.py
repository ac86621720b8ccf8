"""ONNX frontend: an ``.onnx`` model (float32, NCHW) to the IR.

Nodes are visited in the file's (topological) order. A node whose inputs are all known constants
(initializers, ``Constant`` nodes, and ``Shape`` of a tensor whose shape is known) is evaluated here
with numpy, so the shape arithmetic exporters emit around ``Reshape`` and ``Pad``
(``Shape -> Gather -> Unsqueeze -> Concat``, ``ConstantOfShape -> Slice -> Transpose``) folds into
plain constants. Every other node maps through ``HANDLERS`` to IR ops. A dynamic batch dimension is
fine: the IR stores batch 1 and every op is batch-agnostic.

Names: weighted layers are named after their weight initializer (``layer1.0.conv1.weight`` ->
``layer1.0.conv1``); other nodes after the module scope recorded by the exporter (torch.onnx's
``namespace`` metadata, or its ``/layer1/layer1.0/relu/Relu`` node names).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import UserError
from ..ir import ops
from .common import (UNAVAILABLE, Activation, GraphBuilder, Unavailable, UnsupportedOp, batch_kept_shape,
                     exception_summary, module_path_name)


@dataclass(frozen=True)
class _Secondary:
    """An extra output of a node (MaxPool indices, BatchNorm statistics, Dropout mask)."""

    op: str


@dataclass
class OnnxCall:
    """One ONNX node being converted: its IR name, source, attributes and resolved inputs."""

    name: str
    source: Optional[str]
    builder: GraphBuilder
    op_type: str
    attrs: dict
    inputs: list

    def act(self, i: int = 0) -> Activation:
        value = self.inputs[i] if i < len(self.inputs) else None
        if not isinstance(value, Activation):
            raise UnsupportedOp(f"input {i} is not a tensor computed by the model")
        return value

    def const(self, i: int, what: str) -> Optional[np.ndarray]:
        value = self.inputs[i] if i < len(self.inputs) else None
        if isinstance(value, Activation):
            raise UnsupportedOp(f"{what} computed at run time")
        return value

    def tensor(self, i: int, suffix: str) -> Optional[str]:
        value = self.inputs[i] if i < len(self.inputs) else None
        if value is None or isinstance(value, Activation):
            return None if value is None else value.name
        return self.builder.add_constant(f"{self.name}.{suffix}", value)

    def node(self, op: ops.Op, inputs: list) -> Activation:
        return self.builder.add_node(self.name, op, inputs, self.source)

    def shape(self, i: int = 0) -> tuple:
        return self.builder.shape(self.act(i))


# --- layers -------------------------------------------------------------------------------

def _auto_pads(call: OnnxCall, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """Explicit ``(begins..., ends...)`` pads for ONNX ``auto_pad`` / ``pads``."""
    rank = len(kernel)
    if len(stride) != rank or len(dilation) != rank or len(call.attrs.get("pads", (0,) * (2 * rank))) != 2 * rank:
        raise UnsupportedOp(f"strides, dilations or pads of the wrong length for a {rank}-D kernel")
    auto = call.attrs.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        return tuple(call.attrs.get("pads", (0,) * (2 * rank)))
    if auto == "VALID":
        return (0,) * (2 * rank)
    sizes = call.shape()[2:]
    total = [max((-(-s // st) - 1) * st + (k - 1) * d + 1 - s, 0) for s, k, st, d in zip(sizes, kernel, stride, dilation)]
    small = [t // 2 for t in total]
    big = [t - t // 2 for t in total]
    return tuple(small + big) if auto == "SAME_UPPER" else tuple(big + small)


def _conv(call: OnnxCall) -> Activation:
    weight = call.const(1, "convolution weights")
    rank = weight.ndim - 2
    if rank not in (1, 2):
        raise UnsupportedOp(f"{rank}-D convolution")
    stride = tuple(call.attrs.get("strides", (1,) * rank))
    dilation = tuple(call.attrs.get("dilations", (1,) * rank))
    pads = _auto_pads(call, weight.shape[2:], stride, dilation)
    op = ops.Conv(stride=stride, pads=pads, dilation=dilation, groups=int(call.attrs.get("group", 1)))
    return call.node(op, [call.act().name, call.tensor(1, "weight"), call.tensor(2, "bias")])


def _conv_transpose(call: OnnxCall) -> Activation:
    """``ConvTranspose``: 2-D, dilation 1, explicit ``pads`` (or ``auto_pad`` VALID); the weight
    ``(C_in, C_out / group, kh, kw)`` is stored output channel first."""
    weight = call.const(1, "transposed convolution weights")
    if weight.ndim != 4:
        raise UnsupportedOp(f"{weight.ndim - 2}-D transposed convolution (2-D only)")
    if tuple(call.attrs.get("dilations", (1, 1))) != (1, 1):
        raise UnsupportedOp("dilated transposed convolution")
    if "output_shape" in call.attrs or call.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "", "VALID"):
        raise UnsupportedOp("transposed convolution sized by output_shape or auto_pad SAME (give explicit pads)")
    pads = (0, 0, 0, 0) if call.attrs.get("auto_pad") == "VALID" else tuple(call.attrs.get("pads", (0, 0, 0, 0)))
    op = ops.ConvTranspose(stride=tuple(call.attrs.get("strides", (1, 1))), pads=pads,
                           output_padding=tuple(call.attrs.get("output_padding", (0, 0))),
                           groups=int(call.attrs.get("group", 1)))
    w_name = call.builder.add_constant(f"{call.name}.weight", op.output_channel_first(weight))
    return call.node(op, [call.act().name, w_name, call.tensor(2, "bias")])


def _batch_norm(call: OnnxCall) -> Activation:
    if call.attrs.get("training_mode", 0):
        raise UnsupportedOp("batch normalization in training mode")
    names = [call.tensor(i, s) for i, s in enumerate(("", "gamma", "beta", "running_mean", "running_var"))]
    return call.node(ops.BatchNorm(eps=float(call.attrs.get("epsilon", 1e-5))), names)


def _scalar(value) -> Optional[float]:
    return None if value is None else float(np.asarray(value).reshape(-1)[0])


def _clip(call: OnnxCall) -> Activation:
    if "min" in call.attrs or "max" in call.attrs:  # opset < 11
        lo, hi = call.attrs.get("min"), call.attrs.get("max")
    else:
        lo, hi = _scalar(call.const(1, "clip bounds")), _scalar(call.const(2, "clip bounds"))
    return call.node(ops.Clip(lo=lo, hi=hi), [call.act().name])


def _unary(op: ops.Op) -> Callable:
    return lambda call: call.node(op, [call.act().name])


def _leaky_relu(call: OnnxCall) -> Activation:
    return call.node(ops.LeakyRelu(alpha=float(call.attrs.get("alpha", 0.01))), [call.act().name])


def _hard_sigmoid(call: OnnxCall) -> Activation:
    alpha, beta = float(call.attrs.get("alpha", 0.2)), float(call.attrs.get("beta", 0.5))
    if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-6:
        raise UnsupportedOp(f"HardSigmoid with alpha={alpha:g}, beta={beta:g} (only relu6(x+3)/6 is supported)")
    return call.node(ops.Hardsigmoid(), [call.act().name])


def _gelu(call: OnnxCall) -> Activation:
    """Gelu (opset 20). Older opsets have no Gelu node: exporters write its erf or tanh formula."""
    approximate = call.attrs.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise UnsupportedOp(f"Gelu with approximate={approximate!r}")
    return call.node(ops.Gelu(approximate=approximate), [call.act().name])


def _binary(call: OnnxCall, op: ops.Op, a, b) -> Activation:
    if not isinstance(a, Activation):
        a, b = b, a
    if isinstance(b, Activation):
        return call.node(op, [a.name, b.name])
    return call.node(op, [a.name, call.builder.add_constant(f"{call.name}.operand", b)])


def _add(call: OnnxCall) -> Activation:
    return _binary(call, ops.Add(), *call.inputs[:2])


def _mul(call: OnnxCall) -> Activation:
    return _binary(call, ops.Mul(), *call.inputs[:2])


def _sub(call: OnnxCall) -> Activation:
    a, b = call.act(0), call.const(1, "subtrahend")
    return _binary(call, ops.Add(), a, -b)


def _div(call: OnnxCall) -> Activation:
    a, b = call.act(0), call.const(1, "divisor")
    return _binary(call, ops.Mul(), a, 1.0 / b.astype(np.float64))


def _concat(call: OnnxCall) -> Activation:
    if not all(isinstance(v, Activation) for v in call.inputs):
        raise UnsupportedOp("concatenation with a constant tensor")
    rank = len(call.shape())
    axis = int(call.attrs["axis"]) % rank
    if axis == 0:
        raise UnsupportedOp("concatenation along the batch dimension")
    return call.node(ops.Concat(axis=axis), [v.name for v in call.inputs])


def _pool_geometry(call: OnnxCall) -> tuple:
    kernel = tuple(call.attrs["kernel_shape"])
    rank = len(kernel)
    stride = tuple(call.attrs.get("strides", (1,) * rank))
    dilation = tuple(call.attrs.get("dilations", (1,) * rank))
    return kernel, stride, dilation, _auto_pads(call, kernel, stride, dilation)


def _max_pool(call: OnnxCall) -> Activation:
    kernel, stride, dilation, pads = _pool_geometry(call)
    op = ops.MaxPool(kernel=kernel, stride=stride, pads=pads, dilation=dilation,
                     ceil_mode=bool(call.attrs.get("ceil_mode", 0)))
    return call.node(op, [call.act().name])


def _avg_pool(call: OnnxCall) -> Activation:
    kernel, stride, dilation, pads = _pool_geometry(call)
    if any(d != 1 for d in dilation):
        raise UnsupportedOp("dilated average pooling")
    op = ops.AvgPool(kernel=kernel, stride=stride, pads=pads, ceil_mode=bool(call.attrs.get("ceil_mode", 0)),
                     count_include_pad=bool(call.attrs.get("count_include_pad", 0)))
    return call.node(op, [call.act().name])


def _global_avg_pool(call: OnnxCall) -> Activation:
    return call.node(ops.GlobalAvgPool(keepdims=True), [call.act().name])


def _reduce_mean(call: OnnxCall) -> Activation:
    rank = len(call.shape())
    axes = call.attrs.get("axes")
    if axes is None and len(call.inputs) > 1 and call.inputs[1] is not None:
        axes = call.const(1, "reduction axes").tolist()
    axes = sorted({int(a) % rank for a in axes}) if axes else list(range(rank))
    if rank < 3 or axes != list(range(2, rank)):
        raise UnsupportedOp(f"mean over axes {axes} (only the mean over all spatial axes is supported)")
    return call.node(ops.GlobalAvgPool(keepdims=bool(call.attrs.get("keepdims", 1))), [call.act().name])


def _flatten(call: OnnxCall) -> Activation:
    shape = call.shape()
    axis = int(call.attrs.get("axis", 1)) % len(shape)
    if axis == 0:
        raise UnsupportedOp("flatten at axis 0 (it merges the batch)")
    rest = shape[1:axis] + (int(np.prod(shape[axis:])),)
    return call.node(ops.Reshape(shape=tuple(rest)), [call.act().name])


def _reshape(call: OnnxCall) -> Activation:
    shape = call.shape()
    target = [int(d) for d in call.const(1, "reshape target")]
    if not call.attrs.get("allowzero", 0):
        target = [shape[i] if d == 0 and i < len(shape) else d for i, d in enumerate(target)]
    rest = batch_kept_shape(target, (-1, shape[0]), shape, "Reshape")
    return call.node(ops.Reshape(shape=rest), [call.act().name])


def _squeeze_axes(call: OnnxCall) -> Optional[list]:
    axes = call.attrs.get("axes")
    if axes is None and len(call.inputs) > 1 and call.inputs[1] is not None:
        axes = call.const(1, "axes").tolist()
    return axes


def _squeeze(call: OnnxCall) -> Activation:
    shape = call.shape()
    axes = _squeeze_axes(call)
    drop = {int(a) % len(shape) for a in axes} if axes else {i for i, s in enumerate(shape) if s == 1 and i > 0}
    if 0 in drop:
        raise UnsupportedOp("squeeze of the batch dimension")
    return call.node(ops.Reshape(shape=tuple(s for i, s in enumerate(shape) if i not in drop and i > 0)),
                     [call.act().name])


def _unsqueeze(call: OnnxCall) -> Activation:
    shape = list(call.shape())
    out_rank = len(shape) + len(_squeeze_axes(call))
    for axis in sorted(int(a) % out_rank for a in _squeeze_axes(call)):
        if axis == 0:
            raise UnsupportedOp("unsqueeze before the batch dimension")
        shape.insert(axis, 1)
    return call.node(ops.Reshape(shape=tuple(shape[1:])), [call.act().name])


def _gemm(call: OnnxCall) -> Activation:
    if call.attrs.get("transA", 0):
        raise UnsupportedOp("Gemm with a transposed input")
    weight = call.const(1, "Gemm weights")
    weight = weight if call.attrs.get("transB", 0) else weight.T
    weight = weight * float(call.attrs.get("alpha", 1.0))
    bias = call.const(2, "Gemm bias")
    out = weight.shape[0]
    if bias is not None:
        bias = np.broadcast_to(bias * float(call.attrs.get("beta", 1.0)), (1, out)).reshape(out)
    return _linear(call, weight, bias)


def _matmul(call: OnnxCall) -> Activation:
    weight = call.const(1, "MatMul right-hand side")
    if weight.ndim != 2:
        raise UnsupportedOp("MatMul with a non-matrix right-hand side")
    return _linear(call, weight.T, None)


def _linear(call: OnnxCall, weight: np.ndarray, bias: Optional[np.ndarray]) -> Activation:
    x = call.act()
    if len(call.shape()) != 2:
        raise UnsupportedOp(f"matrix product on a rank-{len(call.shape())} input (flatten it first)")
    b = call.builder
    names = [x.name, b.add_constant(f"{call.name}.weight", weight),
             None if bias is None else b.add_constant(f"{call.name}.bias", bias)]
    return call.node(ops.Linear(), names)


def _pad(call: OnnxCall) -> Activation:
    mode = call.attrs.get("mode", "constant")
    if mode != "constant":
        raise UnsupportedOp(f"{mode} padding (only constant padding is supported)")
    shape = call.shape()
    rank = len(shape)
    if "pads" in call.attrs:  # opset < 11
        pads, value = list(call.attrs["pads"]), float(call.attrs.get("value", 0.0))
        axes = list(range(rank))
    else:
        pads = [int(p) for p in call.const(1, "pads")]
        value = _scalar(call.const(2, "pad value")) if len(call.inputs) > 2 else None
        value = 0.0 if value is None else value
        axes = call.const(3, "pad axes") if len(call.inputs) > 3 else None
        axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]
    begins, ends = dict(zip(axes, pads[: len(axes)])), dict(zip(axes, pads[len(axes):]))
    if any(begins.get(a, 0) or ends.get(a, 0) for a in (0, 1)):
        raise UnsupportedOp("padding of the batch or channel dimension")
    spatial = range(2, rank)
    ir_pads = tuple(begins.get(a, 0) for a in spatial) + tuple(ends.get(a, 0) for a in spatial)
    if any(p < 0 for p in ir_pads):
        raise UnsupportedOp("negative padding (cropping)")
    return call.node(ops.Pad(pads=ir_pads, value=value), [call.act().name])


def _softmax(call: OnnxCall) -> Activation:
    rank = len(call.shape())
    axis = int(call.attrs.get("axis", -1)) % rank
    if axis != rank - 1:
        raise UnsupportedOp(f"softmax over axis {axis} (only the last axis is supported)")
    return call.node(ops.Softmax(axis=-1), [call.act().name])


def _identity(call: OnnxCall):
    return call.inputs[0]


def _transpose(call: OnnxCall) -> Activation:
    rank = len(call.shape())
    perm = [int(p) % rank for p in call.attrs.get("perm", range(rank - 1, -1, -1))]
    if perm[0] != 0:
        raise UnsupportedOp("a permutation that moves the batch dimension")
    if perm == sorted(perm):
        return call.act()
    return call.node(ops.Transpose(perm=tuple(perm)), [call.act().name])


def _parts(call: OnnxCall, axis: int, bounds: list) -> list:
    """One Slice node per ``(start, end)`` along ``axis`` (the whole axis is the input itself)."""
    size = call.shape()[axis]
    if axis == 0:
        raise UnsupportedOp("slicing the batch dimension")
    x = call.act()
    return [x if (start, end) == (0, size) else call.node(ops.Slice(axis=axis, start=start, end=end), [x.name])
            for start, end in bounds]


def _split(call: OnnxCall) -> list:
    shape = call.shape()
    axis = int(call.attrs.get("axis", 0)) % len(shape)
    sizes = call.attrs.get("split")
    if sizes is None and len(call.inputs) > 1 and call.inputs[1] is not None:
        sizes = call.const(1, "split sizes").tolist()
    if sizes is None:  # equal parts; the last one smaller (opset 18's num_outputs)
        parts = int(call.attrs.get("num_outputs", 0)) or 2
        step = -(-shape[axis] // parts)
        sizes = [min(step, shape[axis] - i) for i in range(0, shape[axis], step)]
    edges = np.cumsum([0, *[int(v) for v in sizes]]).tolist()
    if edges[-1] != shape[axis]:
        raise UnsupportedOp(f"split sizes {list(sizes)} do not add up to {shape[axis]}")
    return _parts(call, axis, list(zip(edges[:-1], edges[1:])))


def _slice_node(call: OnnxCall) -> Activation:
    shape = call.shape()
    starts, ends = call.const(1, "slice starts"), call.const(2, "slice ends")
    axes = call.const(3, "slice axes") if len(call.inputs) > 3 and call.inputs[3] is not None else range(len(starts))
    steps = call.const(4, "slice steps") if len(call.inputs) > 4 and call.inputs[4] is not None else [1] * len(starts)
    x = call.act()
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = int(axis) % len(shape)
        if int(step) != 1:
            raise UnsupportedOp("slicing with a step other than 1")
        begin, stop, _ = slice(int(start), int(end)).indices(shape[axis])
        if (begin, stop) == (0, shape[axis]):
            continue
        if axis == 0 or stop <= begin:
            raise UnsupportedOp(f"slice {begin}:{stop} along axis {axis}")
        x = call.builder.add_node(call.name, ops.Slice(axis=axis, start=begin, end=stop), [x.name], call.source)
        shape = call.builder.shape(x)
    return x


def _resize_linear(call: OnnxCall, transform: str) -> Activation:
    """Resize in linear mode of the two spatial dims of an NCHW tensor, with half-pixel coordinates
    (``pytorch_half_pixel`` where no output dim is 1: torch.onnx's ``align_corners=False``) or
    ``align_corners``."""
    shape = call.shape()
    if call.attrs.get("antialias", 0):
        raise UnsupportedOp("antialiased linear Resize (only antialias=0 is supported)")
    if transform not in ("half_pixel", "pytorch_half_pixel", "align_corners") or len(shape) != 4:
        raise UnsupportedOp(f"linear Resize of a rank-{len(shape)} tensor with {transform!r} coordinates "
                            f"(NCHW with half_pixel, pytorch_half_pixel or align_corners is supported)")
    axes = [int(a) % 4 for a in call.attrs.get("axes", range(4))]  # sizes and scales list these dims
    sizes = call.const(3, "resize sizes") if len(call.inputs) > 3 and call.inputs[3] is not None else None
    if sizes is not None and len(sizes):
        given = dict(zip(axes, (int(s) for s in sizes)))
        size = (given.get(2, shape[2]), given.get(3, shape[3]))
    else:
        scales = call.const(2, "resize scales")
        given = {} if scales is None else dict(zip(axes, (float(s) for s in scales)))
        factors = (given.get(2, 1.0), given.get(3, 1.0))
        if scales is None or given.get(0, 1.0) != 1 or given.get(1, 1.0) != 1:
            raise UnsupportedOp(f"linear Resize by scales {None if scales is None else list(scales)} (the "
                                f"spatial dims only)")
        size = tuple(int(np.floor(d * s)) for d, s in zip(shape[2:], factors))
        if transform != "align_corners" and any(d * s != out for d, s, out in zip(shape[2:], factors, size)):
            raise UnsupportedOp(f"linear Resize of {shape[2:]} by scales {list(factors)} that do not give "
                                f"whole sizes")
    if transform == "pytorch_half_pixel" and 1 in size:
        raise UnsupportedOp("linear Resize to an output dim of 1 with pytorch_half_pixel coordinates")
    return call.node(ops.ResizeBilinear(size=size, align_corners=transform == "align_corners"), [call.act().name])


def _resize(call: OnnxCall) -> Activation:
    """Resize in nearest mode with floor rounding of asymmetric coordinates (torch.onnx's nearest),
    or in linear mode (``_resize_linear``)."""
    attrs = call.attrs
    mode, transform = attrs.get("mode", "nearest"), attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode == "linear":
        return _resize_linear(call, transform)
    if mode != "nearest" or transform != "asymmetric" or attrs.get("nearest_mode", "round_prefer_floor") != "floor":
        raise UnsupportedOp(f"Resize mode {mode!r} with {transform!r} coordinates (nearest, asymmetric, floor "
                            f"is supported)")
    spatial = call.shape()[2:]
    sizes = call.const(3, "resize sizes") if len(call.inputs) > 3 and call.inputs[3] is not None else None
    if sizes is not None and len(sizes):
        size = tuple(int(s) for s in sizes[2:])
    else:
        scales = call.const(2, "resize scales")
        if scales is None or any(float(s) != int(s) for s in scales) or list(scales[:2]) != [1, 1]:
            raise UnsupportedOp(f"Resize by scales {None if scales is None else list(scales)} (integer factors of "
                                f"the spatial dims are supported)")
        size = tuple(d * int(s) for d, s in zip(spatial, scales[2:]))
    if any(out % d for out, d in zip(size, spatial)):
        raise UnsupportedOp(f"Resize of {spatial} to {size} (only integer factors are supported)")
    return call.node(ops.ResizeNearest(size=size), [call.act().name])


HANDLERS: dict = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "BatchNormalization": _batch_norm,
    "Relu": _unary(ops.Clip(lo=0.0, hi=None)), "Clip": _clip, "LeakyRelu": _leaky_relu,
    "HardSwish": _unary(ops.Hardswish()), "HardSigmoid": _hard_sigmoid, "Sigmoid": _unary(ops.Sigmoid()),
    "Gelu": _gelu,
    "Add": _add, "Sub": _sub, "Mul": _mul, "Div": _div, "Concat": _concat,
    "MaxPool": _max_pool, "AveragePool": _avg_pool, "GlobalAveragePool": _global_avg_pool,
    "ReduceMean": _reduce_mean, "Flatten": _flatten, "Reshape": _reshape,
    "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Gemm": _gemm, "MatMul": _matmul, "Pad": _pad, "Softmax": _softmax,
    "Identity": _identity, "Dropout": _identity,
    "Transpose": _transpose, "Split": _split, "Slice": _slice_node, "Resize": _resize,
}

# IR ops no ONNX model converts to, and why (``tests/unit/test_op_coverage.py`` reads this).
NOT_COVERED = {
    "SiLU": "exporters write it as Sigmoid then Mul, which import as those two ops",
    "Sign": "XNOR binarization is added by quantization to w1a1, not read from a float model",
    "Quantize": "ONNX models are read in float (no QDQ import): edgeconv quantizes them itself",
    "Dequantize": "ONNX models are read in float (no QDQ import): edgeconv quantizes them itself",
}


# --- constant folding -----------------------------------------------------------------------

def _slice(x, starts, ends, axes=None, steps=None):
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return x[tuple(index)]


def _const_node(attrs: dict):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in attrs:
            return np.asarray(attrs[key])
    raise UnsupportedOp("Constant without a value")


def _fold_unsqueeze(attrs, x, axes=None):
    axes = attrs.get("axes", axes)
    for a in sorted(int(v) % (x.ndim + len(axes)) for v in axes):
        x = np.expand_dims(x, a)
    return x


def _fold_squeeze(attrs, x, axes=None):
    axes = attrs.get("axes", axes)
    return np.squeeze(x, axis=None if axes is None else tuple(int(a) for a in axes))


_CAST = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}

FOLDERS: dict = {
    "Constant": lambda attrs: _const_node(attrs),
    "Identity": lambda attrs, x: x,
    "Gather": lambda attrs, x, i: np.take(x, i, axis=int(attrs.get("axis", 0))),
    "Unsqueeze": _fold_unsqueeze,
    "Squeeze": _fold_squeeze,
    "Concat": lambda attrs, *xs: np.concatenate(xs, axis=int(attrs["axis"])),
    "Cast": lambda attrs, x: x.astype(_CAST.get(int(attrs["to"]), np.float32)),
    "Slice": lambda attrs, x, *rest: _slice(x, *rest) if rest else _slice(x, attrs["starts"], attrs["ends"], attrs.get("axes")),
    "Add": lambda attrs, a, b: a + b,
    "Sub": lambda attrs, a, b: a - b,
    "Mul": lambda attrs, a, b: a * b,
    "Div": lambda attrs, a, b: (a // b) if a.dtype.kind in "iu" else a / b,
    "Reshape": lambda attrs, x, s: x.reshape([x.shape[i] if d == 0 else int(d) for i, d in enumerate(s)]),
    "Transpose": lambda attrs, x: np.transpose(x, attrs.get("perm")),
    "ConstantOfShape": lambda attrs, s: np.full([int(d) for d in s], np.asarray(attrs.get("value", np.zeros(1, np.float32))).reshape(-1)[0]),
    "Range": lambda attrs, a, b, d: np.arange(a, b, d),
    "Equal": lambda attrs, a, b: np.equal(a, b),
    "Where": lambda attrs, c, a, b: np.where(c, a, b),
    "Expand": lambda attrs, x, s: x * np.ones([int(d) for d in s], dtype=x.dtype),
}


# --- names ----------------------------------------------------------------------------------

def _scope_name(node, initializer_of: Callable) -> tuple:
    """(IR name, source) for an ONNX node, from its weights or the exporter's scope."""
    weight = next((n for n in node.input[1:2] if initializer_of(n) and n.endswith(".weight")), None)
    meta = {p.key: p.value for p in node.metadata_props}
    source = f"ONNX node {node.name or node.output[0]} ({node.op_type})"
    if weight is not None:
        return weight[: -len(".weight")], source
    if "namespace" in meta:
        entries = [part.split(": ", 1) for part in meta["namespace"].split("/")[1:]]
        modules = [(n, t) for n, t in (e for e in entries if len(e) == 2) if not t.startswith("aten.")]
        fx_name = entries[-1][0] if entries and len(entries[-1]) == 2 and entries[-1][1].startswith("aten.") else node.op_type.lower()
        path = module_path_name([n for n, _ in modules])
        is_layer = bool(modules) and modules[-1][1].startswith("torch.nn.modules.") and \
            modules[-1][1].rsplit(".", 1)[-1] not in ("Sequential", "ModuleList", "ModuleDict")
        if path:
            source += f", module {path} ({modules[-1][1].rsplit('.', 1)[-1]})"
        return (path if is_layer else f"{path}.{fx_name}" if path else fx_name), source
    parts = [p for p in (node.name or "").split("/") if p]
    if len(parts) > 1:
        path = module_path_name(parts[:-1])
        op = node.op_type.lower()
        return (path if path.rsplit(".", 1)[-1] == op else f"{path}.{op}"), source
    return (parts[0].lower() if parts else node.output[0] or node.op_type.lower()), source


# --- the walk -------------------------------------------------------------------------------

def _initializer(tensor, numpy_helper, path: str) -> np.ndarray:
    try:
        return numpy_helper.to_array(tensor)
    except (TypeError, ValueError, KeyError) as exc:  # a data type or size the tensor's bytes do not match
        raise UserError(f"{path}: initializer {tensor.name!r} is corrupted ({exception_summary(exc)})") from None


class _Converter:
    def __init__(self, model, name: str, path: str, input_shape: Optional[tuple]):
        import onnx
        from onnx import numpy_helper

        self.onnx = onnx
        self.model = model
        self.builder = GraphBuilder(name, path)
        self.input_shape = input_shape
        self.values: dict = {"": None}
        self.initializers = {t.name: _initializer(t, numpy_helper, path) for t in model.graph.initializer}
        self.values.update(self.initializers)

    def _inputs(self) -> None:
        user_inputs = [v for v in self.model.graph.input if v.name not in self.initializers]
        for value in user_inputs:
            tensor_type = value.type.tensor_type
            if tensor_type.elem_type != self.onnx.TensorProto.FLOAT:
                raise UserError(f"{self.builder.path}: input {value.name} is not float32; only float32 inputs are supported")
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
            shape = [1] + dims[1:]
            if self.input_shape is not None and len(user_inputs) == 1:
                given = tuple(self.input_shape)
                if len(given) != len(dims) or any(d is not None and d != g for d, g in zip(dims[1:], given[1:])):
                    raise UserError(f"{self.builder.path}: --input-shape {','.join(map(str, given))} does not match the "
                                    f"model's input shape {tuple('?' if d is None else d for d in dims)}")
                shape = [1, *given[1:]]
            if any(d is None for d in shape):
                raise UserError(f"{self.builder.path}: input {value.name} has dynamic dims; pass --input-shape 1,C,H,W")
            self.values[value.name] = self.builder.add_input(value.name, shape)

    def _probe_shape(self, node, inputs) -> Optional[tuple]:
        """Output shape of ``node`` by ONNX shape inference on the node alone (batch as 1).

        Used only to keep checking the nodes after an unsupported one; None when unknown.
        """
        helper, numpy_helper = self.onnx.helper, self.onnx.numpy_helper
        graph_inputs, initializers = [], []
        for name, value in zip(node.input, inputs):
            if isinstance(value, Activation):
                graph_inputs.append(helper.make_tensor_value_info(name, self.onnx.TensorProto.FLOAT, self.builder.shape(value)))
            elif isinstance(value, np.ndarray):
                initializers.append(numpy_helper.from_array(value, name))
        probe = helper.make_model(helper.make_graph([node], "probe", graph_inputs, [], initializer=initializers),
                                  opset_imports=self.model.opset_import)
        try:
            inferred = self.onnx.shape_inference.infer_shapes(probe, data_prop=True)
        except Exception:  # noqa: BLE001 - an op shape inference does not know
            return None
        for value in inferred.graph.value_info:
            if value.name == node.output[0]:
                dims = [d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim]
                return (1, *dims[1:]) if dims else None
        return None

    def _report(self, node, name, source, inputs, reason=None):
        return self.builder.report(node.op_type, node.name or name, source, reason, self._probe_shape(node, inputs))

    def _attrs(self, node) -> dict:
        attrs = {}
        for a in node.attribute:
            v = self.onnx.helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode()
            elif isinstance(v, self.onnx.TensorProto):
                v = self.onnx.numpy_helper.to_array(v)
            elif isinstance(v, list):
                v = tuple(v)
            attrs[a.name] = v
        return attrs

    def _fold(self, node, attrs, inputs):
        if node.op_type == "Shape" and isinstance(inputs[0], Activation):
            shape = np.asarray(self.builder.shape(inputs[0]), dtype=np.int64)
            return _slice(shape, [attrs.get("start", 0)], [attrs.get("end", len(shape))])
        folder = FOLDERS.get(node.op_type)
        if folder is None or any(isinstance(v, Activation) for v in inputs):
            return None
        return folder(attrs, *[v for v in inputs])

    def _node(self, node) -> None:
        inputs = [self.values.get(n, UNAVAILABLE) if n else None for n in node.input]
        name, source = _scope_name(node, lambda n: n in self.initializers)
        secondary = [v for v in inputs if isinstance(v, _Secondary)]
        if secondary:
            self._set(node, self.builder.report(f"{secondary[0].op} (extra output)", node.name or name, source,
                                                "the extra outputs of this op are not supported"))
            return
        if any(isinstance(v, Unavailable) for v in inputs):
            self._set(node, UNAVAILABLE)
            return
        attrs = self._attrs(node)
        try:
            folded = self._fold(node, attrs, inputs)
        except (ValueError, IndexError, KeyError, TypeError) as exc:
            folded = self.builder.report(node.op_type, node.name or name, source, f"cannot evaluate: {exc}")
        if folded is not None:
            self._set(node, folded)
            return
        handler = HANDLERS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        if handler is None:
            self._set(node, self._report(node, name, source, inputs))
            return
        call = OnnxCall(name, source, self.builder, node.op_type, attrs, inputs)
        try:
            self._set(node, handler(call))
        except UnsupportedOp as exc:
            self._set(node, self._report(node, name, source, inputs, str(exc)))

    def _set(self, node, value) -> None:
        """Store a node's value; a handler of a multi-output node (Split) returns one per output."""
        values = value if isinstance(value, list) else [value]
        for i, name in enumerate(node.output):
            if name:
                self.values[name] = values[i] if i < len(values) else _Secondary(node.op_type)

    def convert(self):
        self._inputs()
        for node in self.model.graph.node:
            self._node(node)
        outputs = [self.values.get(o.name, UNAVAILABLE) for o in self.model.graph.output]
        return self.builder.finish(outputs)


def load_onnx(path: Path, input_shape: Optional[tuple] = None):
    """Read an ONNX model and convert it to a verified IR graph."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - a protobuf that does not parse is the user's file
        raise UserError(f"{path} is not a readable ONNX model ({exception_summary(exc)})") from None
    if not model.graph.node:
        raise UserError(f"{path} is not a readable ONNX model (it holds no graph)")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - the checker fails in several ways on a damaged model
        raise UserError(f"{path} is not a valid ONNX model ({exception_summary(exc)})") from None
    return _Converter(model, Path(path).stem, str(path), input_shape).convert()
