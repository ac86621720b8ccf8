"""Lowering of the per-element ops: activations (a 256-entry table in int8, a formula in float),
Quantize, Dequantize, Softmax and a float BatchNorm."""

from __future__ import annotations

import math

import numpy as np

from ...ir import Graph, Node
from ...ir.ops import Clip, Gelu, Sign
from ...quant.integer_params import softmax_params
from ...reference.tables import int8_table
from .emitter import Emitter, LayerCall, float_clamp, float_literal, require
from .layout import c_axis, c_dims, hwc3
from .params import is_float, per_tensor
from .tasks import at, note, task_count, units_task


def _elements_call(em: Emitter, node: Node, kernel: str, n: int, form: str, **kwargs) -> LayerCall:
    """The LayerCall of a per-element kernel over ``n`` elements: ``form`` with ``{xin}``, ``{n}``
    and ``{yout}``, whole or cut into tasks over the elements."""
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    tasks = task_count(em, kernel, em.graph.tensors[node.output].shape, n)
    if tasks == 1:
        call = form.format(xin=xin, n=n, yout=yout)
    else:
        call = units_task(kernel, n, form.format(xin=at(xin, "u0", 1), n="u1 - u0", yout=at(yout, "u0", 1)))
    kwargs.setdefault("reads", [node.inputs[0]])
    return LayerCall(node, kernel, code=call, tasks=tasks, split_note=note(kernel, tasks) if tasks > 1 else "",
                     **kwargs)

_F32_ACTIVATIONS = {
    "Clip": "EC_ACT_CLIP", "LeakyRelu": "EC_ACT_LEAKY_RELU", "Hardswish": "EC_ACT_HARDSWISH",
    "Hardsigmoid": "EC_ACT_HARDSIGMOID", "Sigmoid": "EC_ACT_SIGMOID", "SiLU": "EC_ACT_SILU",
    "Sign": "EC_ACT_SIGN", "Gelu": "EC_ACT_GELU",
}


def _f32_kind(op) -> str:
    """The ``ec_activation_t`` of a float activation (GELU's tanh form has its own)."""
    if isinstance(op, Gelu) and op.approximate == "tanh":
        return "EC_ACT_GELU_TANH"
    return _F32_ACTIVATIONS[op.NAME]


def lower_elementwise(em: Emitter, node: Node) -> LayerCall:
    """Unary activations (and int8 -> int8 Quantize): a table in int8, a formula in float."""
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    n = math.prod(x.shape[1:])
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    if is_float(x) and is_float(y):
        require(node.op.PER_ELEMENT, f"float {node.op_name}")
        op = node.op
        alpha = op.threshold if isinstance(op, Sign) else getattr(op, "alpha", 0.0)
        lo = op.lo if isinstance(op, Clip) else None
        hi = op.hi if isinstance(op, Clip) else None
        lo_text, hi_text = float_clamp((lo, hi))
        form = "ec_f32_activation({xin}, {n}, " + f"{_f32_kind(op)}, {float_literal(alpha)}, {lo_text}, {hi_text}, " + "{yout});"
        return _elements_call(em, node, "ec_f32_activation", n, form, summary="fp32", inplace_of=node.inputs[0])
    if node.output in em.packed:
        return LayerCall(node, "ec_layout", "folded into the popcount limits before it: the packed bits are its output",
                         "", [node.inputs[0]], alias_of=node.inputs[0])
    require(x.dtype == "int8" and y.dtype == "int8", f"{node.op_name} from {x.dtype} to {y.dtype}")
    table = em.array(f"{node.name}_table", "int8_t", int8_table(g, node))
    return _elements_call(em, node, "ec_s8_lut", n, "ec_s8_lut({xin}, " + table + ", {n}, {yout});",
                          summary="int8, 256-entry table", inplace_of=node.inputs[0])


def lower_quantize(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    if x.dtype == "int8":
        return lower_elementwise(em, node)
    require(is_float(x) and y.dtype == "int8", f"Quantize from {x.dtype} to {y.dtype}")
    s, zp = per_tensor(y, "output")
    n = math.prod(x.shape[1:])
    form = "ec_s8_quantize({xin}, {n}, " + f"{float_literal(s)}, {zp}, {y.quant.qmin}, {y.quant.qmax}, " + "{yout});"
    return _elements_call(em, node, "ec_s8_quantize", n, form, summary=f"float32 -> int8 (s={s:.6g}, zp={zp})")


def lower_dequantize(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x = g.tensors[node.inputs[0]]
    require(x.dtype == "int8", f"Dequantize from {x.dtype}")
    s, zp = per_tensor(x, "input")
    n = math.prod(x.shape[1:])
    form = "ec_s8_dequantize({xin}, {n}, " + f"{float(s)!r}, {zp}, " + "{yout});"
    return _elements_call(em, node, "ec_s8_dequantize", n, form, summary=f"int8 -> float32 (s={s:.6g}, zp={zp})")


def lower_softmax(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    dims = c_dims(x.shape)
    require(c_axis(len(x.shape), node.op.axis) == len(dims) - 1, "softmax over an axis other than the channels")
    depth = dims[-1]
    outer = math.prod(dims[:-1])
    if is_float(y):
        kernel, summary = "ec_f32_softmax", "fp32"
        form = "ec_f32_softmax({xin}, {n}, " + f"{depth}, {float_literal(node.op.beta)}, " + "{yout});"
    else:
        s_in, _ = per_tensor(x, "input")
        s_out, zp_out = per_tensor(y, "output")
        require(abs(s_out - 1 / 256) < 1e-12 and zp_out == -128,
                "int8 softmax output must have scale 1/256, zero point -128")
        mult, left_shift, diff_min = softmax_params(s_in, node.op.beta)
        kernel, summary = "ec_s8_softmax", "int8, fixed point"
        form = "ec_s8_softmax({xin}, {n}, " + f"{depth}, {mult}, {left_shift}, {diff_min}, " + "{yout});"
    # A task takes whole rows of `depth` values: its pointers move by rows (the form's {n} is rows).
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    tasks = task_count(em, kernel, y.shape, outer * depth)
    if tasks == 1:
        call = form.format(xin=xin, n=outer, yout=yout)
    else:
        call = units_task(kernel, outer, form.format(xin=at(xin, "u0", depth), n="u1 - u0", yout=at(yout, "u0", depth)))
    return LayerCall(node, kernel, summary, call, [node.inputs[0]], tasks=tasks,
                     split_note=note(kernel, tasks) if tasks > 1 else "")


def lower_batchnorm(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    require(is_float(x) and is_float(y), "BatchNorm on integers (fold it into the convolution first)")
    gamma, beta, mean, var = (g.tensors[n].data.astype(np.float64) for n in node.inputs[1:5])
    scale = gamma / np.sqrt(var + node.op.eps)
    shift = beta - mean * scale
    h, w, c = hwc3(x.shape)
    s_sym = em.array(f"{node.name}_scale", "float", scale)
    t_sym = em.array(f"{node.name}_shift", "float", shift)
    call = f"ec_f32_channel_affine({em.buf(node.inputs[0])}, {h * w}, {c}, {s_sym}, {t_sym}, {em.buf(node.output)});"
    return LayerCall(node, "ec_f32_channel_affine", "fp32", call, [node.inputs[0]], inplace_of=node.inputs[0])
