"""Lowering of ConvTranspose: ``ec_s8_conv_transpose2d`` (int8, per-channel requantization) or
``ec_f32_conv_transpose2d`` (float32), both on OHWI weights with the window of ``params.window_fields``,
whose ``pad_top`` / ``pad_left`` are the rows and columns removed at the start of the scattered map.

No scratch. On the thread pool a task writes output rows ``[u0, u1)``: the same call on a copy of
the window with ``out_h = u1 - u0`` and ``pad_top`` moved down by ``u0`` (the gather finds its input
rows from ``oy + pad_top``), the whole input and the output from row ``u0``; every output is summed
as in one call, so the bytes do not depend on the thread count."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...ir import Node, ops
from ...kernels.geometry import geometry
from ...kernels.packing import ohwi_rows
from ...kernels.registry import BY_NAME
from .emitter import Emitter, LayerCall, float_clamp, require
from .params import (
    activation_bounds, is_float, per_tensor, qparams, requant_arrays, require_int32_accumulator, window_fields,
)
from .tasks import at, note, row_elements, task_count, units_task

S8_KERNEL = "ec_s8_conv_transpose2d"
F32_KERNEL = "ec_f32_conv_transpose2d"


def _layer_call(em: Emitter, node: Node, kernel: str, win: str, call: Callable[[str, str], str], summary: str,
                macs: int) -> LayerCall:
    """``call(window operand, output operand)`` as one call, or as one task of output rows."""
    y = em.graph.tensors[node.output]
    tasks = task_count(em, kernel, y.shape, macs)
    if tasks == 1:
        code = call(f"&{win}", em.buf(node.output))
    else:
        code = units_task(kernel, y.shape[2], (
            f"ec_window_t part = {win};\n    part.out_h = u1 - u0;\n    part.pad_top += u0;\n    "
            + call("&part", at(em.buf(node.output), "u0", row_elements(em, node.output)))))
    return LayerCall(node, kernel, summary, code, [node.inputs[0]], tasks=tasks,
                     split_note=note(kernel, tasks) if tasks > 1 else "")


def lower_conv_transpose(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    op: ops.ConvTranspose = node.op
    x, wt, y = g.tensors[node.inputs[0]], g.tensors[node.inputs[1]], g.tensors[node.output]
    b = g.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] is not None else None
    require(wt.is_constant and (b is None or b.is_constant), "weights and bias must be constant")
    geo = geometry(g, node)
    fields = window_fields(x, y, wt.shape[2:], op.stride, op.pads, (1, 1), op.groups)
    win = em.struct(f"{node.name}_win", "ec_window_t", fields)
    xin = em.buf(node.inputs[0])
    text = (f"{'x'.join(map(str, wt.shape[2:]))} s{'x'.join(map(str, op.stride))}, {x.shape[1]}->{wt.shape[0]}"
            f"{', groups ' + str(op.groups) if op.groups > 1 else ''}")
    if is_float(y):
        require(is_float(x) and wt.dtype == "float32", "float transposed convolution needs float32 input and weights")
        kernel = F32_KERNEL
        ctype, packed = BY_NAME[kernel].pack(wt.data, geo, None)
        w_sym = em.array(f"{node.name}_weights", ctype, packed)
        bias_sym = em.array(f"{node.name}_bias", "float", b.data) if b is not None else "NULL"
        lo, hi = float_clamp(op.clamp)
        return _layer_call(em, node, kernel, win,
                           lambda w, out: f"{kernel}({xin}, {w_sym}, {bias_sym}, {w}, {lo}, {hi}, {out});",
                           f"{text}, fp32, {BY_NAME[kernel].algorithm}", geo.macs)
    require(x.dtype == "int8" and y.dtype == "int8" and wt.dtype == "int8",
            "int8 transposed convolution needs int8 input, weights and output")
    require(b is None or b.dtype == "int32", "bias must be a constant int32 tensor")
    _, zp_in = per_tensor(x, "input")
    _, zp_out = per_tensor(y, "output")
    kernel = S8_KERNEL
    w = wt.data.astype(np.int64)
    bias = b.data.astype(np.int64) if b is not None else np.zeros(w.shape[0], dtype=np.int64)
    require_int32_accumulator(ohwi_rows(w), bias)
    ctype, packed = BY_NAME[kernel].pack(w, geo, None)
    w_sym = em.array(f"{node.name}_weights", ctype, packed)
    bias_sym = em.array(f"{node.name}_bias", "int32_t", bias)
    mult, shift = requant_arrays(em, node.name, node, w.shape[0])
    qp = em.struct(f"{node.name}_q", "ec_qparams_t", qparams(zp_in, zp_out, *activation_bounds(op.clamp, y)))
    return _layer_call(em, node, kernel, win,
                       lambda w, out: f"{kernel}({xin}, {w_sym}, {bias_sym}, {mult}, {shift}, {w}, &{qp}, {out});",
                       f"{text}, {node.precision}, {BY_NAME[kernel].algorithm}", geo.macs)
