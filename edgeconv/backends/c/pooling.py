"""Lowering of pooling: MaxPool (int8, float, and packed bits between binary layers), AvgPool and
GlobalAvgPool (TFLite's MEAN)."""

from __future__ import annotations

from ...ir import Node
from ...quant.integer_params import mean_multiplier
from .emitter import Emitter, LayerCall, require
from .layout import hwc3
from .params import is_float, per_tensor, qparams, same_quant, window_fields


def _lower_pool(em: Emitter, node: Node, kind: str) -> LayerCall:
    g = em.graph
    op = node.op
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    require(len(op.kernel) in (1, 2), "pooling over more than 2 dims")
    dilation = getattr(op, "dilation", (1,) * len(op.kernel))
    require(kind == "max" or all(d == 1 for d in dilation), "dilated average pooling")
    win = em.struct(f"{node.name}_win", "ec_window_t", window_fields(x, y, op.kernel, op.stride, op.pads, dilation))
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    ktext = "x".join(map(str, op.kernel)) + " s" + "x".join(map(str, sorted(set(op.stride))))
    if is_float(y):
        kernel = f"ec_f32_{kind}pool2d"
        extra = "" if kind == "max" else f", {int(op.count_include_pad)}"
        return LayerCall(node, kernel, f"{ktext}, fp32", f"{kernel}({xin}, &{win}{extra}, {yout});", [node.inputs[0]])
    if node.output in em.packed:
        call = f"ec_b1_maxpool2d({xin}, &{win}, {yout});"
        return LayerCall(node, "ec_b1_maxpool2d", f"{ktext}, packed bits (AND)", call, [node.inputs[0]])
    same_quant(x, y, f"{kind} pooling")
    lo, hi = y.quant.qmin, y.quant.qmax
    kernel = f"ec_s8_{kind}pool2d"
    if kind == "max":
        call = f"{kernel}({xin}, &{win}, {lo}, {hi}, {yout});"
    else:
        zp = int(x.quant.zero_point[0])
        call = f"{kernel}({xin}, &{win}, {int(op.count_include_pad)}, {zp}, {lo}, {hi}, {yout});"
    return LayerCall(node, kernel, f"{ktext}, int8", call, [node.inputs[0]])


def lower_maxpool(em: Emitter, node: Node) -> LayerCall:
    return _lower_pool(em, node, "max")


def lower_avgpool(em: Emitter, node: Node) -> LayerCall:
    return _lower_pool(em, node, "avg")


def lower_global_avgpool(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    h, w, c = hwc3(x.shape)
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    if is_float(y):
        return LayerCall(node, "ec_f32_global_avgpool", "fp32",
                         f"ec_f32_global_avgpool({xin}, {h * w}, {c}, {yout});", [node.inputs[0]])
    s_in, zp_in = per_tensor(x, "input")
    s_out, zp_out = per_tensor(y, "output")
    mult, shift = mean_multiplier(s_in / s_out, h * w)
    qp = em.struct(f"{node.name}_q", "ec_qparams_t", qparams(zp_in, zp_out, y.quant.qmin, y.quant.qmax))
    call = f"ec_s8_global_avgpool({xin}, {h * w}, {c}, {mult}, {shift}, &{qp}, {yout});"
    return LayerCall(node, "ec_s8_global_avgpool", "int8", call, [node.inputs[0]])
