"""torch.export frontend: an ExportedProgram (``.pt2``) to the IR.

The program is read at the ATen level. Both the graph ``torch.export.export`` writes (``aten.conv2d``,
``aten.batch_norm``, ``aten.linear``, ...) and its core-ATen decomposition (``aten.convolution``,
``_native_batch_norm_legit_no_training``, ``addmm`` with a transposed weight, hardswish spelled out
as add/clamp/mul/div, ...) are understood. Every call whose tensor inputs are all constants
(weights, buffers, lifted constants) is evaluated here with torch and kept as a constant, so weight
transposes and similar glue never reach the IR.

Node names come from the module that produced the op (``nn_module_stack``): a layer of a built-in
``torch.nn`` module is named by its path (``layer1.0.conv1``), a functional op by its enclosing
module's path and the op (``layer1.0.add``). ``node.source`` says module, class and the user's
source line when the program recorded a stack trace.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.fx

from ..errors import UserError
from ..ir import ops
from .common import (UNAVAILABLE, Activation, GraphBuilder, Unavailable, UnsupportedOp, batch_kept_shape,
                     exception_summary)


@dataclass(frozen=True)
class _Batch:
    """The symbolic batch size of a program exported with a dynamic batch dimension."""


BATCH = _Batch()

# Calls that only check properties of their inputs and produce nothing the model uses.
_CHECKS = {"aten::_assert_tensor_metadata", "aten::_assert_scalar", "aten::sym_constrain_range_for_size",
           "aten::_assert_async"}

# nn containers are never the layer an op belongs to.
_CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}


@dataclass
class Call:
    """One ATen call being converted: its name and source, the builder, its bound arguments."""

    name: str
    source: Optional[str]
    builder: GraphBuilder
    args: dict

    def __getitem__(self, key):
        return self.args[key]

    def act(self, key: str = "self") -> Activation:
        value = self.args[key]
        if not isinstance(value, Activation):
            raise UnsupportedOp(f"argument {key} is not a tensor computed by the model")
        return value

    def tensor(self, key: str, suffix: str) -> Optional[str]:
        """IR tensor name for argument ``key``: an activation, or a constant stored as ``name.suffix``."""
        value = self.args.get(key)
        if value is None:
            return None
        if isinstance(value, Activation):
            return value.name
        return self.builder.add_constant(f"{self.name}.{suffix}", _numpy(value))

    def node(self, op: ops.Op, inputs: list) -> Activation:
        return self.builder.add_node(self.name, op, inputs, self.source)

    def shape(self, key: str = "self") -> tuple:
        return self.builder.shape(self.act(key))


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float32).cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def _tuple(value, rank: int) -> tuple:
    if isinstance(value, (list, tuple)):
        value = [int(v) for v in value]
        return tuple(value * rank) if len(value) == 1 else tuple(value)
    return (int(value),) * rank


def _spatial_rank(call: Call) -> int:
    return len(call.shape()) - 2


# --- layers -------------------------------------------------------------------------------

def _conv(call: Call, key: str = "input") -> Activation:
    x = call.act(key)
    weight = call["weight"]
    if isinstance(weight, Activation):
        raise UnsupportedOp("weights computed at run time")
    if call.args.get("transposed"):
        return _conv_transpose(call, key)
    rank = weight.dim() - 2
    if rank not in (1, 2):
        raise UnsupportedOp(f"{rank}-D convolution")
    stride = _tuple(call.args.get("stride", 1), rank)
    dilation = _tuple(call.args.get("dilation", 1), rank)
    padding = call.args.get("padding", 0)
    kernel = tuple(weight.shape[2:])
    if padding == "valid":
        pads = (0,) * (2 * rank)
    elif padding == "same":
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        pads = tuple(t // 2 for t in total) + tuple(t - t // 2 for t in total)
    else:
        p = _tuple(padding, rank)
        pads = p + p
    op = ops.Conv(stride=stride, pads=pads, dilation=dilation, groups=int(call.args.get("groups", 1)))
    return call.node(op, [x.name, call.tensor("weight", "weight"), call.tensor("bias", "bias")])


def _conv_transpose(call: Call, key: str = "input") -> Activation:
    """``ConvTranspose2d`` (``aten.conv_transpose2d``, or ``aten.convolution`` with ``transposed``):
    dilation 1; the weight ``(C_in, C_out / groups, kh, kw)`` is stored output channel first."""
    x = call.act(key)
    weight = call["weight"]
    if isinstance(weight, Activation):
        raise UnsupportedOp("weights computed at run time")
    if weight.dim() != 4:
        raise UnsupportedOp(f"{weight.dim() - 2}-D transposed convolution (2-D only)")
    if _tuple(call.args.get("dilation", 1), 2) != (1, 1):
        raise UnsupportedOp("dilated transposed convolution")
    padding = _tuple(call.args.get("padding", 0), 2)
    op = ops.ConvTranspose(stride=_tuple(call.args.get("stride", 1), 2), pads=padding + padding,
                           output_padding=_tuple(call.args.get("output_padding", 0), 2),
                           groups=int(call.args.get("groups", 1)))
    w_name = call.builder.add_constant(f"{call.name}.weight", op.output_channel_first(_numpy(weight)))
    return call.node(op, [x.name, w_name, call.tensor("bias", "bias")])


def _batch_norm_parts(call: Call) -> list:
    channels = call.shape("input")[1]
    gamma = call["weight"] if call.args.get("weight") is not None else torch.ones(channels)
    beta = call["bias"] if call.args.get("bias") is not None else torch.zeros(channels)
    b = call.builder
    return [call.act("input").name, b.add_constant(f"{call.name}.gamma", _numpy(gamma)),
            b.add_constant(f"{call.name}.beta", _numpy(beta)),
            call.tensor("running_mean", "running_mean"), call.tensor("running_var", "running_var")]


def _batch_norm(call: Call) -> Activation:
    if call.args.get("training") or call.args.get("running_mean") is None:
        raise UnsupportedOp("batch norm in training mode: export the model after model.eval()")
    return call.node(ops.BatchNorm(eps=float(call["eps"])), _batch_norm_parts(call))


def _batch_norm_no_training(call: Call) -> tuple:
    out = call.node(ops.BatchNorm(eps=float(call["eps"])), _batch_norm_parts(call))
    return (out, None, None)


def _linear(call: Call, weight: torch.Tensor, bias) -> Activation:
    x = call.act(next(k for k in ("input", "mat1", "self") if k in call.args))
    if len(call.builder.shape(x)) != 2:
        raise UnsupportedOp(f"linear layer on a rank-{len(call.builder.shape(x))} input (flatten it first)")
    b = call.builder
    w_name = b.add_constant(f"{call.name}.weight", _numpy(weight))
    b_name = None if bias is None else b.add_constant(f"{call.name}.bias", _numpy(bias))
    return call.node(ops.Linear(), [x.name, w_name, b_name])


def _constant(call: Call, key: str) -> torch.Tensor:
    value = call[key]
    if isinstance(value, Activation):
        raise UnsupportedOp("a matrix product of two run-time tensors")
    return value


def _linear_call(call: Call) -> Activation:
    return _linear(call, _constant(call, "weight"), call.args.get("bias"))


def _addmm(call: Call) -> Activation:
    # addmm(bias, x, W^T, beta, alpha) = beta * bias + alpha * x @ W^T
    weight = _constant(call, "mat2").t() * float(call.args.get("alpha", 1))
    bias = _constant(call, "self") * float(call.args.get("beta", 1))
    return _linear(call, weight, bias)


def _mm(call: Call) -> Activation:
    return _linear(call, _constant(call, "mat2").t(), None)


def _clip(lo: Optional[float], hi: Optional[float]) -> Callable:
    return lambda call: call.node(ops.Clip(lo=lo, hi=hi), [call.act().name])


def _hardtanh(call: Call) -> Activation:
    lo, hi = float(call.args.get("min_val", -1.0)), float(call.args.get("max_val", 1.0))
    return call.node(ops.Clip(lo=lo, hi=hi), [call.act().name])


def _clamp(call: Call) -> Activation:
    lo, hi = call.args.get("min"), call.args.get("max")
    if isinstance(lo, torch.Tensor) or isinstance(hi, torch.Tensor):
        raise UnsupportedOp("clamp with tensor bounds")
    return call.node(ops.Clip(lo=None if lo is None else float(lo), hi=None if hi is None else float(hi)),
                     [call.act().name])


def _unary(op: ops.Op) -> Callable:
    return lambda call: call.node(op, [call.act().name])


def _leaky_relu(call: Call) -> Activation:
    return call.node(ops.LeakyRelu(alpha=float(call.args.get("negative_slope", 0.01))), [call.act().name])


def _gelu(call: Call) -> Activation:
    approximate = call.args.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise UnsupportedOp(f"gelu with approximate={approximate!r}")
    return call.node(ops.Gelu(approximate=approximate), [call.act().name])


def _binary(call: Call, op: ops.Op, other) -> Activation:
    """An elementwise op with the run-time tensor first (Add and Mul commute)."""
    a, b = call["self"], other
    if not isinstance(a, Activation):
        a, b = b, a
    if isinstance(b, Activation):
        return call.node(op, [a.name, b.name])
    return call.node(op, [a.name, call.builder.add_constant(f"{call.name}.operand", _numpy(b))])


def _scaled_other(call: Call, factor: float):
    other = call["other"]
    if factor == 1.0:
        return other
    if isinstance(other, Activation):
        raise UnsupportedOp("add or subtract with a scale factor (alpha) on a run-time tensor")
    return other * factor


def _add(call: Call) -> Activation:
    return _binary(call, ops.Add(), _scaled_other(call, float(call.args.get("alpha", 1))))


def _sub(call: Call) -> Activation:
    if not isinstance(call["self"], Activation):
        raise UnsupportedOp("a constant minus a run-time tensor")
    return _binary(call, ops.Add(), _scaled_other(call, -float(call.args.get("alpha", 1))))


def _mul(call: Call) -> Activation:
    return _binary(call, ops.Mul(), call["other"])


def _div(call: Call) -> Activation:
    other = call["other"]
    if isinstance(other, Activation) or not isinstance(call["self"], Activation):
        raise UnsupportedOp("division by a run-time tensor")
    if call.args.get("rounding_mode") is not None:
        raise UnsupportedOp("rounding division")
    return _binary(call, ops.Mul(), 1.0 / _numpy(other).astype(np.float64))


def _cat(call: Call) -> Activation:
    parts = call["tensors"]
    if not all(isinstance(p, Activation) for p in parts):
        raise UnsupportedOp("concatenation with a constant tensor")
    rank = len(call.builder.shape(parts[0]))
    axis = int(call.args.get("dim", 0)) % rank
    if axis == 0:
        raise UnsupportedOp("concatenation along the batch dimension")
    return call.node(ops.Concat(axis=axis), [p.name for p in parts])


def _max_pool(call: Call):
    rank = _spatial_rank(call)
    kernel = _tuple(call["kernel_size"], rank)
    stride = _tuple(call.args.get("stride") or kernel, rank)
    p = _tuple(call.args.get("padding", 0), rank)
    op = ops.MaxPool(kernel=kernel, stride=stride, pads=p + p, dilation=_tuple(call.args.get("dilation", 1), rank),
                     ceil_mode=bool(call.args.get("ceil_mode", False)))
    return call.node(op, [call.act().name])


def _max_pool_with_indices(call: Call) -> tuple:
    return (_max_pool(call), None)


def _avg_pool(call: Call) -> Activation:
    if call.args.get("divisor_override") is not None:
        raise UnsupportedOp("average pooling with divisor_override")
    rank = _spatial_rank(call)
    kernel = _tuple(call["kernel_size"], rank)
    stride = _tuple(call.args.get("stride") or kernel, rank)
    p = _tuple(call.args.get("padding", 0), rank)
    op = ops.AvgPool(kernel=kernel, stride=stride, pads=p + p, ceil_mode=bool(call.args.get("ceil_mode", False)),
                     count_include_pad=bool(call.args.get("count_include_pad", True)))
    return call.node(op, [call.act().name])


def _adaptive_avg_pool(call: Call) -> Activation:
    size = list(call["output_size"])
    if any(int(s) != 1 for s in size):
        raise UnsupportedOp(f"adaptive average pooling to {size} (only output size 1 is supported)")
    return call.node(ops.GlobalAvgPool(keepdims=True), [call.act().name])


def _mean(call: Call) -> Activation:
    rank = len(call.shape())
    dims = call.args.get("dim")
    dims = sorted({int(d) % rank for d in dims}) if dims else list(range(rank))
    if rank < 3 or dims != list(range(2, rank)):
        raise UnsupportedOp(f"mean over dims {dims} (only the mean over all spatial dims is supported)")
    return call.node(ops.GlobalAvgPool(keepdims=bool(call.args.get("keepdim", False))), [call.act().name])


def _reshape_to(call: Call, rest: tuple) -> Activation:
    return call.node(ops.Reshape(shape=rest), [call.act().name])


def _view(call: Call) -> Activation:
    key = "size" if "size" in call.args else "shape"
    target = [v if v is BATCH else int(v) for v in call[key]]
    if BATCH in target[1:]:
        raise UnsupportedOp("reshape that moves the batch size into another dimension")
    batch = call.builder.graph.metadata["traced_batch"]
    rest = batch_kept_shape(target, (-1, batch, BATCH), call.shape(), "reshape")
    return _reshape_to(call, rest)


def _flatten(call: Call) -> Activation:
    shape = call.shape()
    rank = len(shape)
    start, end = int(call.args.get("start_dim", 0)) % rank, int(call.args.get("end_dim", -1)) % rank
    if start == 0:
        raise UnsupportedOp("flatten that includes the batch dimension (use torch.flatten(x, 1))")
    rest = shape[1:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]
    return _reshape_to(call, tuple(rest))


def _squeeze(call: Call) -> Activation:
    shape = call.shape()
    dims = call.args.get("dim")
    dims = [dims] if isinstance(dims, int) else list(dims) if dims is not None else range(1, len(shape))
    drop = {int(d) % len(shape) for d in dims if shape[int(d) % len(shape)] == 1}
    if 0 in drop:
        raise UnsupportedOp("squeeze of the batch dimension")
    return _reshape_to(call, tuple(s for i, s in enumerate(shape) if i not in drop and i > 0))


def _unsqueeze(call: Call) -> Activation:
    shape = list(call.shape())
    dim = int(call["dim"]) % (len(shape) + 1)
    if dim == 0:
        raise UnsupportedOp("unsqueeze before the batch dimension")
    shape.insert(dim, 1)
    return _reshape_to(call, tuple(shape[1:]))


def _permute_node(call: Call, perm: list) -> Activation:
    if perm[0] != 0:
        raise UnsupportedOp("a permutation that moves the batch dimension")
    if perm == sorted(perm):
        return call.act()
    return call.node(ops.Transpose(perm=tuple(perm)), [call.act().name])


def _permute(call: Call) -> Activation:
    rank = len(call.shape())
    return _permute_node(call, [int(d) % rank for d in call["dims"]])


def _transpose(call: Call) -> Activation:
    rank = len(call.shape())
    perm = list(range(rank))
    a, b = int(call["dim0"]) % rank, int(call["dim1"]) % rank
    perm[a], perm[b] = perm[b], perm[a]
    return _permute_node(call, perm)


def _slices(call: Call, axis: int, bounds: list) -> list:
    """One Slice node per ``(start, end)`` along ``axis`` (a part that is the whole axis is the input)."""
    shape = call.shape()
    if axis == 0:
        raise UnsupportedOp("slicing the batch dimension")
    x = call.act()
    return [x if (start, end) == (0, shape[axis]) else call.node(ops.Slice(axis=axis, start=start, end=end), [x.name])
            for start, end in bounds]


def _split_bounds(size: int, sizes: list) -> list:
    edges = np.cumsum([0, *sizes]).tolist()
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _chunk(call: Call) -> list:
    axis = int(call.args.get("dim", 0)) % len(call.shape())
    size = call.shape()[axis]
    step = -(-size // int(call["chunks"]))
    return _slices(call, axis, _split_bounds(size, [min(step, size - i) for i in range(0, size, step)]))


def _split(call: Call) -> list:
    axis = int(call.args.get("dim", 0)) % len(call.shape())
    size = call.shape()[axis]
    sizes = call["split_size"] if "split_size" in call.args else call["split_sizes"]
    if isinstance(sizes, (list, tuple)):
        sizes = [int(v) for v in sizes]
    else:
        step = int(sizes)
        sizes = [min(step, size - i) for i in range(0, size, step)]
    return _slices(call, axis, _split_bounds(size, sizes))


def _narrow(call: Call) -> Activation:
    axis = int(call["dim"]) % len(call.shape())
    start = int(call["start"]) % call.shape()[axis]
    return _slices(call, axis, [(start, start + int(call["length"]))])[0]


def _slice(call: Call) -> Activation:
    shape = call.shape()
    axis = int(call.args.get("dim", 0)) % len(shape)
    if int(call.args.get("step", 1)) != 1:
        raise UnsupportedOp("slicing with a step other than 1")
    start, end = call.args.get("start"), call.args.get("end")
    start, end, _ = slice(None if start is None else int(start), None if end is None else int(end)).indices(shape[axis])
    if axis == 0 and (start, end) == (0, shape[0]):
        return call.act()
    if end <= start:
        raise UnsupportedOp(f"an empty slice {start}:{end} along dim {axis}")
    return _slices(call, axis, [(start, end)])[0]


def _upsample_nearest(call: Call) -> Activation:
    spatial = call.shape("input")[2:]
    size = call.args.get("output_size")
    if size is None:
        scales = call.args.get("scale_factors") or [call.args.get("scales_h"), call.args.get("scales_w")]
        if any(s is None or float(s) != int(s) for s in scales):
            raise UnsupportedOp(f"nearest resize by scale factors {scales} (only integer factors are supported)")
        size = [d * int(s) for d, s in zip(spatial, scales)]
    size = tuple(int(s) for s in size)
    if any(out % d for out, d in zip(size, spatial)):
        raise UnsupportedOp(f"nearest resize of {spatial} to {size} (only integer factors are supported)")
    return call.node(ops.ResizeNearest(size=size), [call.act("input").name])


def _upsample_bilinear(call: Call) -> Activation:
    """``interpolate(mode="bilinear")``: to ``output_size``, or by ``scale_factors`` where PyTorch's
    coordinates are those of the output size (an exact product, or ``align_corners``, whose
    coordinates never depend on the factor). The ``.vec`` overload (torch.export) names its tensor
    ``input``, the default one (TorchScript) ``self``."""
    source = "input" if "input" in call.args else "self"
    spatial = call.shape(source)[2:]
    if len(spatial) != 2:
        raise UnsupportedOp(f"bilinear resize of a rank-{len(spatial) + 2} tensor (NCHW only)")
    align_corners = bool(call.args.get("align_corners", False))
    size = call.args.get("output_size")
    if size is None:
        scales = call.args.get("scale_factors") or [call.args.get("scales_h"), call.args.get("scales_w")]
        if any(s is None for s in scales):
            raise UnsupportedOp("bilinear resize without an output size or scale factors")
        size = [math.floor(d * float(s)) for d, s in zip(spatial, scales)]
        if not align_corners and any(d * float(s) != out for d, s, out in zip(spatial, scales, size)):
            raise UnsupportedOp(f"bilinear resize of {tuple(spatial)} by scale factors {list(scales)}: PyTorch "
                                f"maps coordinates by the factor, not by the output size it floors to; give "
                                f"size= or recompute_scale_factor=True")
    return call.node(ops.ResizeBilinear(size=tuple(int(s) for s in size), align_corners=align_corners),
                     [call.act(source).name])


def _upsample_bilinear_antialiased(call: Call) -> Activation:
    raise UnsupportedOp("antialiased bilinear resize (interpolate(..., antialias=True)); only antialias=False "
                        "is supported")


def _pad(call: Call) -> Activation:
    mode = call.args.get("mode", "constant")
    if mode != "constant":
        raise UnsupportedOp(f"{mode} padding (only constant padding is supported)")
    value = call.args.get("value")
    return _pad_node(call, list(call["pad"]), 0.0 if value is None else float(value))


def _pad_node(call: Call, torch_pads: list, value: float) -> Activation:
    rank = _spatial_rank(call)
    # torch lists (begin, end) pairs from the last dim backwards.
    pairs = [(int(torch_pads[2 * i]), int(torch_pads[2 * i + 1])) for i in range(len(torch_pads) // 2)]
    if any(pair != (0, 0) for pair in pairs[rank:]):
        raise UnsupportedOp("padding of the channel or batch dimension")
    pairs = (pairs + [(0, 0)] * rank)[:rank][::-1]
    if any(p < 0 for pair in pairs for p in pair):
        raise UnsupportedOp("negative padding (cropping)")
    pads = tuple(b for b, _ in pairs) + tuple(e for _, e in pairs)
    return call.node(ops.Pad(pads=pads, value=value), [call.act().name])


def _constant_pad_nd(call: Call) -> Activation:
    return _pad_node(call, list(call["pad"]), float(call.args.get("value", 0.0)))


def _softmax(call: Call) -> Activation:
    rank = len(call.shape())
    axis = int(call["dim"]) % rank
    return call.node(ops.Softmax(axis=-1 if axis == rank - 1 else axis), [call.act().name])


def _identity(call: Call):
    return call.args["self"] if "self" in call.args else call.args["input"]


def _to_copy(call: Call):
    dtype = call.args.get("dtype")
    if dtype not in (None, torch.float32):
        raise UnsupportedOp(f"conversion to {dtype}")
    return _identity(call)


def _sym_size(call: Call):
    dim = int(call["dim"]) % len(call.shape())
    return BATCH if dim == 0 else call.shape()[dim]


HANDLERS: dict = {
    "aten::conv1d": _conv, "aten::conv2d": _conv, "aten::convolution": _conv, "aten::_convolution": _conv,
    "aten::conv_transpose2d": _conv_transpose,
    "aten::batch_norm": _batch_norm,
    "aten::_native_batch_norm_legit_no_training": _batch_norm_no_training,
    "aten::relu": _clip(0.0, None), "aten::relu_": _clip(0.0, None),
    "aten::relu6": _clip(0.0, 6.0), "aten::hardtanh": _hardtanh, "aten::hardtanh_": _hardtanh,
    "aten::clamp": _clamp, "aten::clip": _clamp,
    "aten::leaky_relu": _leaky_relu, "aten::leaky_relu_": _leaky_relu,
    "aten::hardswish": _unary(ops.Hardswish()), "aten::hardswish_": _unary(ops.Hardswish()),
    "aten::hardsigmoid": _unary(ops.Hardsigmoid()), "aten::hardsigmoid_": _unary(ops.Hardsigmoid()),
    "aten::sigmoid": _unary(ops.Sigmoid()), "aten::silu": _unary(ops.SiLU()), "aten::silu_": _unary(ops.SiLU()),
    "aten::gelu": _gelu, "aten::gelu_": _gelu,
    "aten::add": _add, "aten::add_": _add, "aten::sub": _sub, "aten::mul": _mul, "aten::mul_": _mul,
    "aten::div": _div,
    "aten::cat": _cat, "aten::concat": _cat,
    "aten::max_pool1d": _max_pool, "aten::max_pool2d": _max_pool,
    "aten::max_pool2d_with_indices": _max_pool_with_indices,
    "aten::avg_pool1d": _avg_pool, "aten::avg_pool2d": _avg_pool,
    "aten::adaptive_avg_pool1d": _adaptive_avg_pool, "aten::adaptive_avg_pool2d": _adaptive_avg_pool,
    "aten::_adaptive_avg_pool2d": _adaptive_avg_pool,
    "aten::mean": _mean,
    "aten::view": _view, "aten::reshape": _view, "aten::_unsafe_view": _view,
    "aten::flatten": _flatten, "aten::squeeze": _squeeze, "aten::unsqueeze": _unsqueeze,
    "aten::linear": _linear_call, "aten::addmm": _addmm, "aten::mm": _mm,
    "aten::permute": _permute, "aten::transpose": _transpose,
    "aten::chunk": _chunk, "aten::split": _split, "aten::split_with_sizes": _split, "aten::narrow": _narrow,
    "aten::slice": _slice,
    "aten::upsample_nearest2d": _upsample_nearest,
    "aten::upsample_bilinear2d": _upsample_bilinear,
    "aten::_upsample_bilinear2d_aa": _upsample_bilinear_antialiased,
    "aten::pad": _pad, "aten::constant_pad_nd": _constant_pad_nd,
    "aten::softmax": _softmax, "aten::_softmax": _softmax,
    "aten::dropout": _identity, "aten::dropout_": _identity, "aten::feature_dropout": _identity,
    "aten::alpha_dropout": _identity, "aten::clone": _identity, "aten::contiguous": _identity,
    "aten::detach": _identity, "aten::alias": _identity, "aten::_to_copy": _to_copy, "aten::to": _to_copy,
    "aten::sym_size": _sym_size,
}

# IR ops no PyTorch model converts to, and why (``tests/unit/test_op_coverage.py`` reads this).
NOT_COVERED = {
    "Sign": "XNOR binarization is added by quantization to w1a1, not read from a float model",
    "Quantize": "PyTorch models are read in float: edgeconv quantizes them itself",
    "Dequantize": "PyTorch models are read in float: edgeconv quantizes them itself",
}

# --- names and sources ----------------------------------------------------------------------

_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in \S+\n\s*(?P<code>[^\n]*)')


def _type_name(module_type) -> str:
    return module_type if isinstance(module_type, str) else f"{module_type.__module__}.{module_type.__qualname__}"


def _user_frame(stack_trace: Optional[str]) -> Optional[str]:
    """``file.py:12: code`` of the innermost frame outside torch itself."""
    if not stack_trace:
        return None
    frames = [m for m in _FRAME.finditer(stack_trace) if "/torch/" not in m["file"]]
    if not frames:
        return None
    last = frames[-1]
    return f"{Path(last['file']).name}:{last['line']}: {last['code'].strip()}"


def _module_of(node: torch.fx.Node) -> tuple:
    """(module path, class name, is a torch.nn layer) of the innermost module around ``node``."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return "", "", False
    path, module_type = list(stack.values())[-1]
    type_name = _type_name(module_type)
    cls = type_name.rsplit(".", 1)[-1]
    is_layer = type_name.startswith("torch.nn.modules.") and cls not in _CONTAINERS
    return path, cls, is_layer


def _names(node: torch.fx.Node, param_names: dict) -> tuple:
    path, cls, is_layer = _module_of(node)
    if is_layer and path:
        name = path
    elif path:  # the op's own name without torch's counter; the builder numbers repeats
        name = f"{path}.{re.sub(r'_[0-9]+$', '', node.name)}"
    else:
        weights = [param_names[n.name] for n in node.all_input_nodes if n.name in param_names]
        layer = next((w[: -len(".weight")] for w in weights if w.endswith(".weight")), None)
        name = layer or node.name
    where = [f"{path} ({cls})" if path else None, _user_frame(node.meta.get("stack_trace"))]
    source = ", ".join(w for w in where if w) or None
    return name, source


def _traced_shape(node: torch.fx.Node) -> Optional[tuple]:
    """The output shape torch.export recorded for ``node`` (dynamic dims as -1), if a tensor."""
    val = node.meta.get("val")
    if not isinstance(val, torch.Tensor) or val.dim() == 0:
        return None
    return (1, *(d if isinstance(d, int) else -1 for d in val.shape[1:]))


def _op_label(target) -> str:
    return str(target).removesuffix(".default")


# --- the walk -------------------------------------------------------------------------------

def _bind(target, args: tuple, kwargs: dict) -> dict:
    """Arguments of an ATen call by schema name, defaults filled in."""
    bound = {}
    schema_args = target._schema.arguments
    for i, arg in enumerate(schema_args):
        if i < len(args):
            bound[arg.name] = args[i]
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
    return bound


def _flat(value) -> list:
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _flat(item)]
    return [value]


class _Converter:
    def __init__(self, program, name: str, path: str, input_shape: Optional[tuple]):
        self.program = program
        self.builder = GraphBuilder(name, path)
        self.input_shape = input_shape
        self.values: dict = {}
        self.param_names: dict = {}

    def _inputs(self) -> None:
        signature = self.program.graph_signature
        kinds = {spec.arg.name: spec for spec in signature.input_specs}
        tables = (self.program.state_dict, self.program.constants)
        placeholders = [n for n in self.program.graph.nodes if n.op == "placeholder"]
        user_inputs = []
        for node in placeholders:
            spec = kinds.get(node.name)
            target = getattr(spec, "target", None)
            if target is not None:
                table = next((t for t in tables if target in t), None)
                if table is None:
                    raise UserError(f"{self.builder.path}: the program has no value for {target}")
                self.values[node.name] = table[target].detach()
                self.param_names[node.name] = target
            else:
                user_inputs.append(node)
        for node in user_inputs:
            self.values[node.name] = self._user_input(node, len(user_inputs))

    def _user_input(self, node: torch.fx.Node, count: int) -> Activation:
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise UserError(f"{self.builder.path}: model input {node.name} is not a tensor")
        dims = list(val.shape)
        traced_batch = dims[0] if isinstance(dims[0], int) else 1
        self.builder.graph.metadata["traced_batch"] = int(traced_batch)
        shape = [1] + [d if isinstance(d, int) else None for d in dims[1:]]
        if self.input_shape is not None and count == 1:
            given = tuple(self.input_shape)
            known = [d for d in shape[1:]]
            if len(given) != len(shape) or any(k is not None and k != g for k, g in zip(known, given[1:])):
                raise UserError(f"{self.builder.path}: --input-shape {','.join(map(str, given))} does not match "
                                f"the exported input shape {tuple(dims)}")
            shape = [1, *given[1:]]
        if any(d is None for d in shape):
            raise UserError(f"{self.builder.path}: input {node.name} has dynamic dims {tuple(dims)}; "
                            f"pass --input-shape 1,C,H,W")
        if val.dtype != torch.float32:
            raise UserError(f"{self.builder.path}: input {node.name} has dtype {val.dtype}; only float32 inputs are supported")
        return self.builder.add_input(node.name, shape)

    def _resolve(self, value):
        if isinstance(value, torch.fx.Node):
            return self.values[value.name]
        if isinstance(value, (list, tuple)):
            return type(value)(self._resolve(v) for v in value)
        return value

    def _call(self, node: torch.fx.Node):
        args, kwargs = self._resolve(node.args), {k: self._resolve(v) for k, v in node.kwargs.items()}
        flat = _flat(list(args) + list(kwargs.values()))
        if any(isinstance(v, Unavailable) for v in flat):
            return UNAVAILABLE
        name, source = _names(node, self.param_names)
        if node.target is operator.getitem:
            return self._getitem(node, args, name, source)
        schema = getattr(node.target, "_schema", None)
        if schema is None:
            return self.builder.report(str(node.target), node.name, source, "not an ATen operator")
        if schema.name in _CHECKS:
            return None
        if not any(isinstance(v, (Activation, _Batch)) for v in flat):
            with torch.no_grad():
                return node.target(*args, **kwargs)
        handler = HANDLERS.get(schema.name)
        if handler is None:
            return self.builder.report(_op_label(node.target), node.name, source, shape=_traced_shape(node))
        call = Call(name, source, self.builder, _bind(node.target, args, kwargs))
        try:
            return handler(call)
        except UnsupportedOp as exc:
            return self.builder.report(_op_label(node.target), node.name, source, str(exc), _traced_shape(node))

    def _getitem(self, node, args, name, source):
        container, index = args
        item = container[index]
        if item is None and not node.users:
            return UNAVAILABLE
        if item is None:
            return self.builder.report(f"{_op_label(node.args[0].target)}[{index}]", node.name, source,
                                       "this secondary output (indices or statistics) is not supported")
        return item

    def convert(self):
        self._inputs()
        outputs = []
        for node in self.program.graph.nodes:
            if node.op == "call_function":
                self.values[node.name] = self._call(node)
            elif node.op == "output":
                outputs = _flat(self._resolve(node.args[0]))
            elif node.op != "placeholder":
                self.builder.report(node.op, node.name, None, "graph construct not supported")
        graph = self.builder.finish(outputs)
        graph.metadata.pop("traced_batch", None)
        return graph


def convert_program(program, name: str, path: str, input_shape: Optional[tuple] = None):
    """Convert an ``ExportedProgram`` (in eval mode) to a verified IR graph."""
    if any(spec.kind.name == "BUFFER_MUTATION" for spec in program.graph_signature.output_specs):
        raise UserError(f"{path}: the program updates its buffers (batch norm in training mode); "
                        f"export the model after model.eval()")
    return _Converter(program, name, path, input_shape).convert()


def load_pt2(path: Path, input_shape: Optional[tuple] = None, trust_pickle: bool = False):
    """Read a ``torch.export.save`` archive and convert it.

    Without ``trust_pickle`` nothing in the archive is unpickled beyond tensors (``pt2_archive``);
    with it, torch's own loader reads the archive.
    """
    from .pt2_archive import read_archive

    try:
        program = torch.export.load(str(path)) if trust_pickle else read_archive(path)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read the archive is the user's file
        raise UserError(f"{path}: cannot read the torch.export program ({exception_summary(exc)})") from None
    return convert_program(program, Path(path).stem, str(path), input_shape)


def convert_module(module: torch.nn.Module, input_shape: tuple, name: str, path: str):
    """Export ``module`` (in eval mode) on a zero input of ``input_shape`` and convert it."""
    module = module.eval()
    try:
        program = torch.export.export(module, (torch.zeros(tuple(input_shape)),))
    except Exception as exc:  # noqa: BLE001 - torch.export refuses what it cannot trace
        raise UserError(f"{path}: torch.export cannot trace the model for input shape {tuple(input_shape)} "
                        f"({exception_summary(exc)})") from None
    return convert_program(program, name, path, tuple(input_shape))
