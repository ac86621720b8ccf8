"""Lowering of pooling: MaxPool (int8, float, and packed bits between binary layers), AvgPool and
GlobalAvgPool (TFLite's MEAN)."""

from __future__ import annotations

import math

from ...ir import Node
from ...quant.integer_params import mean_multiplier
from .emitter import Emitter, LayerCall, require
from .layout import hwc3
from .params import is_float, per_tensor, qparams, same_quant, window_fields
from .tasks import at, note, row_elements, rows_task, task_count


def _lower_pool(em: Emitter, node: Node, kind: str) -> LayerCall:
    g = em.graph
    op = node.op
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    require(len(op.kernel) in (1, 2), "pooling over more than 2 dims")
    dilation = getattr(op, "dilation", (1,) * len(op.kernel))
    require(kind == "max" or all(d == 1 for d in dilation), "dilated average pooling")
    win = em.struct(f"{node.name}_win", "ec_window_t", window_fields(x, y, op.kernel, op.stride, op.pads, dilation))
    ktext = "x".join(map(str, op.kernel)) + " s" + "x".join(map(str, sorted(set(op.stride))))
    if is_float(y):
        kernel, summary = f"ec_f32_{kind}pool2d", f"{ktext}, fp32"
        extra = "" if kind == "max" else f", {int(op.count_include_pad)}"
        form = "{kernel}({xin}, &{win}" + extra + ", {yout});"
    elif node.output in em.packed:
        kernel, summary, form = "ec_b1_maxpool2d", f"{ktext}, packed bits (AND)", "{kernel}({xin}, &{win}, {yout});"
    else:
        same_quant(x, y, f"{kind} pooling")
        lo, hi = y.quant.qmin, y.quant.qmax
        kernel, summary = f"ec_s8_{kind}pool2d", f"{ktext}, int8"
        if kind == "max":
            form = "{kernel}({xin}, &{win}, " + f"{lo}, {hi}, " + "{yout});"
        else:
            zp = int(x.quant.zero_point[0])
            form = "{kernel}({xin}, &{win}, " + f"{int(op.count_include_pad)}, {zp}, {lo}, {hi}, " + "{yout});"
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    tasks = task_count(em, kernel, y.shape, y.numel * math.prod(op.kernel))
    if tasks == 1:
        call = form.format(kernel=kernel, xin=xin, win=win, yout=yout)
    else:
        part = form.format(kernel=kernel, xin=at(xin, "first", row_elements(em, node.inputs[0])), win="part",
                           yout=at(yout, "u0", row_elements(em, node.output)))
        call = rows_task(kernel, win, hwc3(y.shape)[0], part)
    return LayerCall(node, kernel, summary, call, [node.inputs[0]], tasks=tasks,
                     split_note=note(kernel, tasks) if tasks > 1 else "")


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
