"""Lowering of ResizeBilinear: ``ec_s8_resize_bilinear`` on the codes (input and output share one
grid) or ``ec_f32_resize_bilinear``, with the per-row and per-column tap tables of
``quant/bilinear.py`` written as constants, so the C blends exactly what the reference does."""

from __future__ import annotations

import numpy as np

from ...ir import Node
from ...quant import bilinear
from .emitter import Emitter, LayerCall, Unsupported
from .layout import hwc3
from .params import is_float, same_quant
from .tasks import note, task_count, units_task

# Work per output element for the thread split: four taps blended.
TAPS = 4


def lower_resize_bilinear(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    op = node.op
    in_h, in_w, channels = hwc3(x.shape)
    out_h, out_w, _ = hwc3(y.shape)
    name = node.name
    if is_float(y):
        kernel = "ec_f32_resize_bilinear"
        ry = bilinear.float_taps(in_h, out_h, op.align_corners)
        rx = bilinear.float_taps(in_w, out_w, op.align_corners)
        fields = {
            "in_w": in_w, "channels": channels, "out_w": out_w,
            "rows": em.array(f"{name}_rows", "int32_t", np.stack([ry.lo, ry.hi], 1), weights=False),
            "row_w": em.array(f"{name}_row_w", "float", np.stack([ry.w_lo, ry.w_hi], 1), weights=False),
            "cols": em.array(f"{name}_cols", "int32_t", np.stack([rx.lo, rx.hi], 1), weights=False),
            "col_w": em.array(f"{name}_col_w", "float", np.stack([rx.w_lo, rx.w_hi], 1), weights=False),
        }
        ctype, dtype = "ec_f32_resize_t", "fp32"
    else:
        same_quant(x, y, "bilinear resize")
        kernel = "ec_s8_resize_bilinear"
        try:
            ry = bilinear.int_taps(in_h, out_h, op.align_corners)
            rx = bilinear.int_taps(in_w, out_w, op.align_corners)
        except ValueError as e:
            raise Unsupported(str(e)) from None
        fields = {
            "in_w": in_w, "channels": channels, "out_w": out_w,
            "rows": em.array(f"{name}_rows", "int32_t", np.stack([ry.lo, ry.hi, ry.frac], 1), weights=False),
            "cols": em.array(f"{name}_cols", "int32_t", np.stack([rx.lo, rx.hi, rx.frac], 1), weights=False),
        }
        ctype, dtype = "ec_s8_resize_t", "int8"
    params = em.struct(f"{name}_resize", ctype, fields)
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    corners = "align_corners" if op.align_corners else "half-pixel"
    summary = f"bilinear {in_h}x{in_w} -> {out_h}x{out_w}, {corners}, {dtype}"
    tasks = task_count(em, kernel, y.shape, y.numel * TAPS)
    if tasks == 1:
        call = f"{kernel}({xin}, &{params}, 0, {out_h}, {yout});"
    else:
        call = units_task(kernel, out_h, f"{kernel}({xin}, &{params}, u0, u1, {yout});")
    return LayerCall(node, kernel, summary, call, [node.inputs[0]], tasks=tasks,
                     split_note=note(kernel, tasks) if tasks > 1 else "")
