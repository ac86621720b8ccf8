"""Import a ``.tflite`` model into the IR, keeping its quantization exactly.

TFLite is channels-last: rank-4 activations are NHWC, conv weights OHWI, depthwise weights 1HWC.
The IR is channels-first, so on import

- rank-4 activation shapes become NCHW (``graph.source_layout = "NHWC"`` records the model's own
  layout, which runners use at the graph ends);
- CONV_2D weights OHWI -> OIHW (per-channel axis 0 stays 0); DEPTHWISE_CONV_2D weights
  (1, H, W, C*M) -> (C*M, 1, H, W), a grouped conv with ``groups = C``, quantized dimension 3 -> 0;
- axes (CONCATENATION, MEAN, SOFTMAX) and paddings are mapped from NHWC to NCHW;
- a RESHAPE/SQUEEZE is kept only where the NHWC and NCHW element orders agree (a side of rank 4
  with one channel or a 1x1 spatial extent): any other reshape of a spatial tensor is refused;
- SAME padding becomes explicit pads: ``total = max((out - 1) * stride + (k - 1) * d + 1 - in, 0)``,
  ``begin = total // 2``, ``end = total - begin``;
- fused activations become the op's ``clamp`` (or a Clip node after ops that have none);
- scales, zero points and int32 biases are copied as stored (float32 scales).

Graph inputs and outputs keep the model's own dtype (int8 for full-integer models): no Quantize or
Dequantize nodes are added. Every unsupported operator or tensor type is listed in one UserError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import tflite
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.Padding import Padding
from tflite.TensorType import TensorType

from ..errors import UserError
from ..ir import Graph, GraphError, Node, QuantParams, Tensor, ops, verify
from .common import exception_summary

OPERATOR_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}

# TFLite tensor type -> IR dtype (the types the IR's kernels understand).
TENSOR_TYPES = {
    TensorType.FLOAT32: "float32",
    TensorType.INT8: "int8",
    TensorType.INT32: "int32",
    TensorType.INT64: "int64",
}

# Fused activation -> real clamp (lo, hi).
FUSED_ACTIVATIONS = {
    ActivationFunctionType.NONE: (None, None),
    ActivationFunctionType.RELU: (0.0, None),
    ActivationFunctionType.RELU_N1_TO_1: (-1.0, 1.0),
    ActivationFunctionType.RELU6: (0.0, 6.0),
}

NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


@dataclass
class _Reader:
    """State of one import: the flatbuffer, the graph being built, and the IR name of each tensor."""

    path: Path
    data: bytes
    model: object
    subgraph: object
    graph: Graph
    names: dict = field(default_factory=dict)  # TFLite tensor index -> IR tensor name

    def tensor(self, index: int):
        return self.subgraph.Tensors(index)

    def shape(self, index: int) -> tuple:
        t = self.tensor(index)
        return tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()

    def buffer(self, index: int) -> Optional[np.ndarray]:
        """The constant data of tensor ``index`` in its own layout, or None for an activation."""
        t = self.tensor(index)
        buf = self.model.Buffers(t.Buffer())
        if buf is None:
            return None
        if buf.Offset() > 1:
            raw = self.data[buf.Offset(): buf.Offset() + buf.Size()]
        elif buf.DataLength():
            raw = buf.DataAsNumpy().tobytes()
        else:
            return None
        dtype = np.dtype(TENSOR_TYPES[t.Type()])
        return np.frombuffer(raw, dtype=dtype).reshape(self.shape(index)).copy()

    def quant(self, index: int, axis_map: Callable[[int], int] = lambda a: a) -> Optional[QuantParams]:
        q = self.tensor(index).Quantization()
        if q is None or q.ScaleLength() == 0:
            return None
        scale = q.ScaleAsNumpy().astype(np.float32)
        zero_point = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(scale.size, np.int64)
        axis = axis_map(int(q.QuantizedDimension())) if scale.size > 1 else None
        return QuantParams(scale, zero_point, axis)

    def name_of(self, index: int) -> str:
        if index not in self.names:
            raw = self.tensor(index).Name()
            # The converter joins the names of fused ops with ';': the last one names the layer.
            base = raw.decode("utf-8", "replace").split(";")[-1] if raw else ""
            self.names[index] = self.graph.unique_name(base or f"t{index}")
        return self.names[index]

    def activation(self, index: int) -> str:
        """IR name of activation tensor ``index``, creating it (NCHW shape) on first use."""
        name = self.name_of(index)
        if name not in self.graph.tensors:
            t = self.tensor(index)
            self.graph.add_tensor(Tensor(name, _to_ir_shape(self.shape(index)), TENSOR_TYPES[t.Type()],
                                         quant=self.quant(index)))
        return name

    def constant(self, index: int, data: np.ndarray, quant: Optional[QuantParams]) -> str:
        """IR name of constant tensor ``index`` holding ``data`` (already in IR layout)."""
        name = self.name_of(index)
        if name not in self.graph.tensors:
            t = self.tensor(index)
            self.graph.add_tensor(Tensor(name, data.shape, TENSOR_TYPES[t.Type()], quant=quant, data=data))
        return name

    def operand(self, index: int, like_rank: int) -> str:
        """An elementwise operand: an activation, or a constant moved to the IR layout."""
        data = self.buffer(index)
        if data is None:
            return self.activation(index)
        if data.ndim == 4:
            data = data.transpose(0, 3, 1, 2)
        elif like_rank == 4 and data.ndim == 1 and data.size > 1:
            data = data.reshape(-1, 1, 1)  # per-channel vector broadcasting over NHWC's last dim
        return self.constant(index, np.ascontiguousarray(data), self.quant(index))


def _to_ir_shape(shape: tuple) -> tuple:
    return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else tuple(shape)


def _options(op, options_class):
    table = op.BuiltinOptions()
    opts = options_class()
    if table is not None:
        opts.Init(table.Bytes, table.Pos)
    return opts


def _fused(code: int, where: str) -> tuple:
    if code not in FUSED_ACTIVATIONS:
        raise UserError(f"{where}: fused activation {code} is not supported (only RELU, RELU6, RELU_N1_TO_1)")
    return FUSED_ACTIVATIONS[code]


def _same_pads(in_sizes: tuple, out_sizes: tuple, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    begins, ends = [], []
    for size, out, k, s, d in zip(in_sizes, out_sizes, kernel, stride, dilation):
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    return tuple(begins + ends)


def _pads(padding: int, reader: _Reader, op, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    if padding == Padding.VALID:
        return (0, 0, 0, 0)
    in_shape, out_shape = reader.shape(op.Inputs(0)), reader.shape(op.Outputs(0))
    return _same_pads(in_shape[1:3], out_shape[1:3], kernel, stride, dilation)


@dataclass
class _Emitted:
    """What an operator handler produced: the IR op, its input names, and a clamp to apply after."""

    op: ops.Op
    inputs: list
    clamp_after: tuple = (None, None)


def _bias(reader: _Reader, op, slot: int) -> Optional[str]:
    if op.InputsLength() <= slot or op.Inputs(slot) < 0:
        return None
    index = op.Inputs(slot)
    return reader.constant(index, reader.buffer(index), reader.quant(index))


def _conv_2d(reader: _Reader, op, where: str) -> _Emitted:
    o = _options(op, tflite.Conv2DOptions)
    w_index = op.Inputs(1)
    w = reader.buffer(w_index)
    if w is None:
        raise UserError(f"{where}: CONV_2D weights must be constant")
    stride, dilation = (o.StrideH(), o.StrideW()), (o.DilationHFactor(), o.DilationWFactor())
    groups = reader.shape(op.Inputs(0))[3] // w.shape[3]
    weight = reader.constant(w_index, np.ascontiguousarray(w.transpose(0, 3, 1, 2)), reader.quant(w_index))
    pads = _pads(o.Padding(), reader, op, w.shape[1:3], stride, dilation)
    conv = ops.Conv(stride=stride, pads=pads, dilation=dilation, groups=groups,
                    clamp=_fused(o.FusedActivationFunction(), where))
    return _Emitted(conv, [reader.activation(op.Inputs(0)), weight, _bias(reader, op, 2)])


def _depthwise_conv_2d(reader: _Reader, op, where: str) -> _Emitted:
    o = _options(op, tflite.DepthwiseConv2DOptions)
    w_index = op.Inputs(1)
    w = reader.buffer(w_index)
    if w is None:
        raise UserError(f"{where}: DEPTHWISE_CONV_2D weights must be constant")
    channels = reader.shape(op.Inputs(0))[3]
    stride, dilation = (o.StrideH(), o.StrideW()), (o.DilationHFactor(), o.DilationWFactor())
    weight = reader.constant(w_index, np.ascontiguousarray(w.transpose(3, 0, 1, 2)),
                             reader.quant(w_index, axis_map=lambda a: {3: 0}.get(a, a)))
    pads = _pads(o.Padding(), reader, op, w.shape[1:3], stride, dilation)
    conv = ops.Conv(stride=stride, pads=pads, dilation=dilation, groups=channels,
                    clamp=_fused(o.FusedActivationFunction(), where))
    return _Emitted(conv, [reader.activation(op.Inputs(0)), weight, _bias(reader, op, 2)])


def _fully_connected(reader: _Reader, op, where: str) -> _Emitted:
    o = _options(op, tflite.FullyConnectedOptions)
    w_index = op.Inputs(1)
    w = reader.buffer(w_index)
    if w is None:
        raise UserError(f"{where}: FULLY_CONNECTED weights must be constant")
    x = reader.activation(op.Inputs(0))
    in_shape = reader.shape(op.Inputs(0))
    if len(in_shape) != 2:
        # TFLite flattens the input to (-1, in_features): the same as the IR's per-sample
        # flatten when the batch is kept and the NHWC order agrees with NCHW.
        if o.KeepNumDims() or int(np.prod(in_shape[1:])) != w.shape[1] or not _order_preserved(in_shape):
            raise UserError(f"{where}: FULLY_CONNECTED on a {in_shape} input is not supported (flatten it first)")
        x = _flatten(reader.graph, x, where)
    weight = reader.constant(w_index, w, reader.quant(w_index))
    linear = ops.Linear(clamp=_fused(o.FusedActivationFunction(), where))
    return _Emitted(linear, [x, weight, _bias(reader, op, 2)])


def _flatten(graph: Graph, name: str, where: str) -> str:
    """Add a Reshape of activation ``name`` to ``(N, features)``; return the flat tensor's name."""
    t = graph.tensors[name]
    flat = Tensor(graph.unique_name(name + "/flat"), (t.shape[0], int(np.prod(t.shape[1:]))), t.dtype, quant=t.quant)
    graph.add_tensor(flat)
    graph.add_node(Node(graph.unique_name(flat.name), ops.Reshape(shape=(flat.shape[1],)), [name], flat.name,
                        precision="fp32" if t.dtype == "float32" else "int8", source=where))
    return flat.name


def _binary(op_class, options_class):
    def handler(reader: _Reader, op, where: str) -> _Emitted:
        o = _options(op, options_class)
        rank = max(len(reader.shape(op.Inputs(0))), len(reader.shape(op.Inputs(1))))
        inputs = [reader.operand(op.Inputs(i), rank) for i in range(2)]
        return _Emitted(op_class(clamp=_fused(o.FusedActivationFunction(), where)), inputs)
    return handler


def _pool(op_class, **extra):
    def handler(reader: _Reader, op, where: str) -> _Emitted:
        o = _options(op, tflite.Pool2DOptions)
        kernel, stride = (o.FilterHeight(), o.FilterWidth()), (o.StrideH(), o.StrideW())
        pads = _pads(o.Padding(), reader, op, kernel, stride, (1, 1))
        pool = op_class(kernel=kernel, stride=stride, pads=pads, **extra)
        return _Emitted(pool, [reader.activation(op.Inputs(0))], _fused(o.FusedActivationFunction(), where))
    return handler


def _mean(reader: _Reader, op, where: str) -> _Emitted:
    o = _options(op, tflite.ReducerOptions)
    axes = reader.buffer(op.Inputs(1))
    rank = len(reader.shape(op.Inputs(0)))
    if axes is None or rank != 4 or sorted(int(a) % 4 for a in np.atleast_1d(axes)) != [1, 2]:
        raise UserError(f"{where}: MEAN is supported over the spatial axes (1, 2) of a rank-4 tensor only")
    return _Emitted(ops.GlobalAvgPool(keepdims=bool(o.KeepDims())), [reader.activation(op.Inputs(0))])


def _order_preserved(shape: tuple) -> bool:
    """NHWC and NCHW flatten a tensor in the same order when C == 1 or H * W == 1."""
    return len(shape) != 4 or shape[3] == 1 or shape[1] * shape[2] == 1


def _reshape(reader: _Reader, op, where: str) -> _Emitted:
    in_shape, out_shape = reader.shape(op.Inputs(0)), reader.shape(op.Outputs(0))
    if not (_order_preserved(in_shape) and _order_preserved(out_shape)):
        raise UserError(f"{where}: reshape {in_shape} -> {out_shape} reorders NHWC elements; not supported")
    return _Emitted(ops.Reshape(shape=_to_ir_shape(out_shape)[1:]), [reader.activation(op.Inputs(0))])


def _ir_axis(axis: int, rank: int) -> int:
    return NHWC_TO_NCHW_AXIS[axis % 4] if rank == 4 else axis % rank


def _transpose(reader: _Reader, op, where: str) -> _Emitted:
    """TRANSPOSE of stored dims ``q``: the IR permutation ``P`` with ``P[ir(i)] = ir(q[i])``."""
    rank = len(reader.shape(op.Inputs(0)))
    stored = reader.buffer(op.Inputs(1))
    if stored is None or rank not in (2, 4):
        raise UserError(f"{where}: TRANSPOSE is supported with a constant permutation of a rank-2 or rank-4 tensor only")
    perm = [0] * rank
    for i, q in enumerate(np.atleast_1d(stored).astype(int) % rank):
        perm[_ir_axis(i, rank)] = _ir_axis(int(q), rank)
    if perm[0] != 0:
        raise UserError(f"{where}: TRANSPOSE moves the batch dimension; not supported")
    return _Emitted(ops.Transpose(perm=tuple(perm)), [reader.activation(op.Inputs(0))])


def _slice(reader: _Reader, op, where: str) -> _Emitted:
    """SLICE along one non-batch axis (every other dim whole)."""
    shape = reader.shape(op.Inputs(0))
    begin, size = reader.buffer(op.Inputs(1)), reader.buffer(op.Inputs(2))
    if begin is None or size is None:
        raise UserError(f"{where}: SLICE with run-time bounds is not supported")
    begin, size = np.atleast_1d(begin).astype(int), np.atleast_1d(size).astype(int)
    ends = [shape[i] if size[i] == -1 else begin[i] + size[i] for i in range(len(shape))]
    cut = [i for i in range(len(shape)) if (begin[i], ends[i]) != (0, shape[i])]
    if len(cut) != 1 or cut[0] == 0 or len(shape) == 3:
        raise UserError(f"{where}: SLICE is supported along one non-batch axis of a rank-2 or rank-4 tensor only")
    axis = cut[0]
    return _Emitted(ops.Slice(axis=_ir_axis(axis, len(shape)), start=int(begin[axis]), end=int(ends[axis])),
                    [reader.activation(op.Inputs(0))])


def _resize_nearest(reader: _Reader, op, where: str) -> _Emitted:
    o = _options(op, tflite.ResizeNearestNeighborOptions)
    shape, size = reader.shape(op.Inputs(0)), reader.buffer(op.Inputs(1))
    if size is None or o.AlignCorners() or o.HalfPixelCenters():
        raise UserError(f"{where}: RESIZE_NEAREST_NEIGHBOR is supported with a constant size, without "
                        f"align_corners or half_pixel_centers")
    size = tuple(int(s) for s in np.atleast_1d(size))
    if any(out % d for out, d in zip(size, shape[1:3])):
        raise UserError(f"{where}: RESIZE_NEAREST_NEIGHBOR of {shape[1:3]} to {size} is not an integer factor")
    return _Emitted(ops.ResizeNearest(size=size), [reader.activation(op.Inputs(0))])


def _resize_bilinear(reader: _Reader, op, where: str) -> _Emitted:
    """RESIZE_BILINEAR with half-pixel centers (PyTorch's ``align_corners=False``) or corner alignment."""
    o = _options(op, tflite.ResizeBilinearOptions)
    size = reader.buffer(op.Inputs(1))
    if size is None or o.AlignCorners() == o.HalfPixelCenters():
        raise UserError(f"{where}: RESIZE_BILINEAR is supported with a constant size and exactly one of "
                        f"align_corners and half_pixel_centers")
    return _Emitted(ops.ResizeBilinear(size=tuple(int(s) for s in np.atleast_1d(size)), align_corners=bool(o.AlignCorners())),
                    [reader.activation(op.Inputs(0))])


def _concatenation(reader: _Reader, op, where: str) -> _Emitted:
    o = _options(op, tflite.ConcatenationOptions)
    rank = len(reader.shape(op.Outputs(0)))
    axis = o.Axis() % rank
    if rank == 4:
        axis = NHWC_TO_NCHW_AXIS[axis]
    inputs = [reader.operand(op.Inputs(i), rank) for i in range(op.InputsLength())]
    return _Emitted(ops.Concat(axis=axis), inputs, _fused(o.FusedActivationFunction(), where))


def _pad(reader: _Reader, op, where: str) -> _Emitted:
    paddings = reader.buffer(op.Inputs(1))
    in_shape = reader.shape(op.Inputs(0))
    if paddings is None or len(in_shape) != 4 or np.any(paddings[[0, 3]] != 0):
        raise UserError(f"{where}: PAD is supported on the spatial dims of a rank-4 tensor with constant paddings only")
    value = 0.0
    if op.InputsLength() > 2 and op.Inputs(2) >= 0:
        code = reader.buffer(op.Inputs(2))
        quant = reader.quant(op.Inputs(2))
        raw = float(np.asarray(code).reshape(-1)[0])
        value = raw if quant is None else float(quant.scale[0]) * (raw - float(quant.zero_point[0]))
    pads = (int(paddings[1, 0]), int(paddings[2, 0]), int(paddings[1, 1]), int(paddings[2, 1]))
    return _Emitted(ops.Pad(pads=pads, value=value), [reader.activation(op.Inputs(0))])


def _softmax(reader: _Reader, op, where: str) -> _Emitted:
    o = _options(op, tflite.SoftmaxOptions)
    axis = 1 if len(reader.shape(op.Inputs(0))) == 4 else -1
    return _Emitted(ops.Softmax(axis=axis, beta=float(np.float32(o.Beta()))), [reader.activation(op.Inputs(0))])


def _leaky_relu(reader: _Reader, op, where: str) -> _Emitted:
    o = _options(op, tflite.LeakyReluOptions)
    return _Emitted(ops.LeakyRelu(alpha=float(np.float32(o.Alpha()))), [reader.activation(op.Inputs(0))])


def _gelu(reader: _Reader, op, where: str) -> _Emitted:
    """Float GELU only: TFLite's int8 GELU fills its table in float32 its own way, which the IR's
    int8 Gelu (the ``quant/lut.py`` table) does not reproduce."""
    if reader.tensor(op.Outputs(0)).Type() != TensorType.FLOAT32:
        raise UserError(f"{where}: GELU is supported on float32 tensors only (an int8 GELU's table is TFLite's own)")
    tanh = op.BuiltinOptions() is not None and _options(op, tflite.GeluOptions).Approximate()
    approximate = "tanh" if tanh else "none"
    return _Emitted(ops.Gelu(approximate=approximate), [reader.activation(op.Inputs(0))])


def _unary(make: Callable[[], ops.Op]):
    def handler(reader: _Reader, op, where: str) -> _Emitted:
        return _Emitted(make(), [reader.activation(op.Inputs(0))])
    return handler


HANDLERS: dict = {
    BuiltinOperator.CONV_2D: _conv_2d,
    BuiltinOperator.DEPTHWISE_CONV_2D: _depthwise_conv_2d,
    BuiltinOperator.FULLY_CONNECTED: _fully_connected,
    BuiltinOperator.ADD: _binary(ops.Add, tflite.AddOptions),
    BuiltinOperator.MUL: _binary(ops.Mul, tflite.MulOptions),
    BuiltinOperator.AVERAGE_POOL_2D: _pool(ops.AvgPool, count_include_pad=False),
    BuiltinOperator.MAX_POOL_2D: _pool(ops.MaxPool),
    BuiltinOperator.MEAN: _mean,
    BuiltinOperator.RESHAPE: _reshape,
    BuiltinOperator.SQUEEZE: _reshape,
    BuiltinOperator.CONCATENATION: _concatenation,
    BuiltinOperator.TRANSPOSE: _transpose,
    BuiltinOperator.SLICE: _slice,
    BuiltinOperator.RESIZE_NEAREST_NEIGHBOR: _resize_nearest,
    BuiltinOperator.RESIZE_BILINEAR: _resize_bilinear,
    BuiltinOperator.PAD: _pad,
    BuiltinOperator.PADV2: _pad,
    BuiltinOperator.SOFTMAX: _softmax,
    BuiltinOperator.LOGISTIC: _unary(ops.Sigmoid),
    BuiltinOperator.HARD_SWISH: _unary(ops.Hardswish),
    BuiltinOperator.GELU: _gelu,
    BuiltinOperator.LEAKY_RELU: _leaky_relu,
    BuiltinOperator.RELU: _unary(lambda: ops.Clip(lo=0.0, hi=None)),
    BuiltinOperator.RELU6: _unary(lambda: ops.Clip(lo=0.0, hi=6.0)),
    BuiltinOperator.QUANTIZE: _unary(ops.Quantize),
    BuiltinOperator.DEQUANTIZE: _unary(ops.Dequantize),
}

# IR ops no .tflite converts to, and why (``tests/unit/test_op_coverage.py`` reads this).
NOT_COVERED = {
    "BatchNorm": "TFLite has no batch-norm operator: converters fold it into the convolution",
    "ConvTranspose": "TRANSPOSE_CONV is written, not yet read: its output_shape input and SAME padding are not mapped back",
    "Hardsigmoid": "no TFLite builtin: converters write ADD and MUL, read as those; an int8 GATHER table is not read",
    "SiLU": "no TFLite builtin: converters write LOGISTIC and MUL, read as those; an int8 GATHER table is not read",
    "Sign": "no TFLite builtin: XNOR binarization is written as CAST, GREATER_EQUAL, SELECT_V2, not read back",
}


def _precision(graph: Graph, output: str) -> str:
    return "fp32" if graph.tensors[output].dtype == "float32" else "int8"


def _operator_code(model, op) -> int:
    code = model.OperatorCodes(op.OpcodeIndex())
    return max(code.BuiltinCode(), code.DeprecatedBuiltinCode())


def _check_supported(reader: _Reader) -> None:
    """Raise one UserError listing every unsupported operator and tensor type of the model."""
    problems = []
    sg = reader.subgraph
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        code = _operator_code(reader.model, op)
        if code not in HANDLERS:
            name = OPERATOR_NAMES.get(code, f"custom/unknown code {code}")
            problems.append(f"operator {i} {name} (output {reader.tensor(op.Outputs(0)).Name().decode()})")
    type_names = {v: k for k, v in vars(TensorType).items() if not k.startswith("_")}
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        if t.Type() not in TENSOR_TYPES:
            problems.append(f"tensor {t.Name().decode()} of type {type_names.get(t.Type(), t.Type())}")
    if reader.model.SubgraphsLength() != 1:
        problems.append(f"{reader.model.SubgraphsLength()} subgraphs (only one is supported)")
    if problems:
        raise UserError(f"{reader.path.name}: unsupported by edgeconv: " + "; ".join(problems))


def _add_clamp(graph: Graph, node: Node, clamp: tuple) -> None:
    """Rename ``node``'s output and add a Clip producing the original tensor (same quantization)."""
    final = graph.tensors[node.output]
    inner = Tensor(graph.unique_name(node.output + "/pre_activation"), final.shape, final.dtype, quant=final.quant)
    graph.add_tensor(inner)
    graph.add_node(Node(graph.unique_name(node.name + "/activation"), ops.Clip(lo=clamp[0], hi=clamp[1]),
                        [inner.name], final.name, precision=node.precision, source=node.source))
    node.output = inner.name


# What reading a damaged flatbuffer raises: flatbuffers' reads past the end of the file
# (struct.error) or of numbers out of their type's range (TypeError), numpy views of missing bytes
# (ValueError), and the import's own lookups of the indices, codes and shapes the damage made up.
DAMAGED_FLATBUFFER_ERRORS = (struct.error, TypeError, ValueError, IndexError, KeyError, AttributeError,
                             OverflowError, ZeroDivisionError, MemoryError, RecursionError)


def load_tflite(path) -> Graph:
    """Read the ``.tflite`` at ``path`` into an IR graph (see the module docstring).

    A truncated or corrupted flatbuffer is refused with a UserError naming the file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise UserError(f"{path}: not a TFLite model (no TFL3 file identifier)")
    try:
        graph = _import(path, data)
    except DAMAGED_FLATBUFFER_ERRORS as exc:
        raise UserError(f"{path}: the TFLite flatbuffer is truncated or corrupted ({exception_summary(exc)})") from None
    try:
        verify(graph)
    except GraphError as exc:
        raise UserError(f"{path.name}: the model does not form a valid graph after import ({exc})") from None
    return graph


def _import(path: Path, data: bytes) -> Graph:
    model = tflite.Model.GetRootAsModel(data, 0)
    subgraph = model.Subgraphs(0)
    if subgraph is None:
        raise UserError(f"{path}: the TFLite model has no subgraph")
    graph = Graph(name=path.stem, source_layout="NHWC", metadata={"source": path.name, "format": "tflite"})
    reader = _Reader(path, data, model, subgraph, graph)
    _check_supported(reader)
    graph.inputs = [reader.activation(subgraph.Inputs(i)) for i in range(subgraph.InputsLength())]
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        code = _operator_code(model, op)
        where = f"{path.name}: operator {i} {OPERATOR_NAMES[code]}"
        emitted = HANDLERS[code](reader, op, where)
        output = reader.activation(op.Outputs(0))
        raw_name = reader.tensor(op.Outputs(0)).Name()
        node = Node(graph.unique_name(f"{OPERATOR_NAMES[code].lower()}_{i}"), emitted.op, emitted.inputs, output,
                    precision=_precision(graph, output),
                    source=f"{path.name} operator {i} {OPERATOR_NAMES[code]} ({(raw_name or b'').decode('utf-8', 'replace')})")
        graph.add_node(node)
        if emitted.clamp_after != (None, None):
            _add_clamp(graph, node, emitted.clamp_after)
    graph.outputs = [reader.activation(subgraph.Outputs(i)) for i in range(subgraph.OutputsLength())]
    # Where each activation lives in the .tflite, so runtimes' tensors can be compared by name.
    graph.metadata["tflite_tensors"] = {name: index for index, name in reader.names.items()
                                        if not graph.tensors[name].is_constant}
    return graph
