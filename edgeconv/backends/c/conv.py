"""Lowering of the weighted ops, Conv and Linear: the kernel comes from ``kernel_choice``, its
weights from the kernel's packer in the registry, its call from ``CONV_CALLS`` (one function per
integer conv kernel)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...ir import Node, Tensor, ops
from ...kernels.geometry import LayerGeometry, geometry
from ...kernels.packing import ohwi_rows, pack_bits, pack_gemm_weights
from ...kernels.registry import BY_NAME
from ...quant.precision import INT8, Precision, parse_precision
from ...quant.single_rounding import weight_steps
from .emitter import Emitter, LayerCall, float_clamp, require
from .kernel_choice import conv_kernel, f32_conv_kernel
from .params import (
    activation_bounds, is_float, per_tensor, qparams, requant_arrays, require_int32_accumulator, window_fields,
)
from .layout import hwc3
from .reshape import columns_in_input_order
from .tasks import at, note, positions_task, row_elements, rows_task, task_count, position_elements, units_task


def _bias_tensor(g, node: Node) -> Optional[Tensor]:
    return g.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] is not None else None


def _gemm_arrays(em: Emitter, base: str, w_rows: np.ndarray) -> tuple:
    """Packed weights and per-channel weight sums of a GEMM-shaped kernel; returns their symbols."""
    w_sym = em.array(f"{base}_weights", "int8_t", pack_gemm_weights(w_rows))
    wsum_sym = em.array(f"{base}_wsum", "int32_t", w_rows.astype(np.int64).sum(axis=1))
    return w_sym, wsum_sym


@dataclass
class ConvOperands:
    """What every integer conv call passes: the chosen kernel, the layer's geometry, precision and
    integer weights (OIHW), and the symbols and placeholders emitted before the kernel's own arrays
    (``bias``, ``mult`` and ``shift`` are None when a packed output folds them into its limits)."""

    kernel: str
    node: Node
    geo: LayerGeometry
    precision: Precision
    w: np.ndarray
    x_name: str
    xin: str
    yout: str
    win: str
    qp: str
    bias: Optional[str]
    mult: Optional[str]
    shift: Optional[str]

    @property
    def requant(self) -> str:
        return f"{self.bias}, {self.mult}, {self.shift}"


def _packed_weights(em: Emitter, c: ConvOperands) -> str:
    """The weights in the layout the kernel reads (its registry entry's packer)."""
    ctype, values = BY_NAME[c.kernel].pack(c.w, c.geo, c.precision)
    return em.array(f"{c.node.name}_weights", ctype, values)


def _call_direct(em: Emitter, c: ConvOperands) -> tuple:
    """The depthwise and sliding-window kernels: weights and requantization."""
    w_sym = _packed_weights(em, c)
    return f"{c.kernel}({c.xin}, {w_sym}, {c.requant}, &{c.win}, &{c.qp}, {c.yout});", ""


def _gemm_operands(em: Emitter, c: ConvOperands) -> str:
    """Packed GEMM weights and the per-channel weight sums, with the requantization."""
    w_sym = _packed_weights(em, c)
    wsum_sym = em.array(f"{c.node.name}_wsum", "int32_t", ohwi_rows(c.w).sum(axis=1))
    return f"{c.xin}, {w_sym}, {c.bias}, {wsum_sym}, {c.mult}, {c.shift}, &{c.win}, &{c.qp}"


def _call_pointwise(em: Emitter, c: ConvOperands) -> tuple:
    return f"{c.kernel}({_gemm_operands(em, c)}, {c.yout});", ""


def _call_im2col(em: Emitter, c: ConvOperands) -> tuple:
    return f"{c.kernel}({_gemm_operands(em, c)}, (int8_t *)${{scratch}}, {c.yout});", ""


def _call_xnor(em: Emitter, c: ConvOperands) -> tuple:
    """Packed {-1, +1} weights; int8 or packed input, and either the requantization operands or
    the popcount limits of a packed output."""
    base = c.node.name
    w_sym = _packed_weights(em, c)
    packed_in = c.x_name in em.packed
    flags = ["EC_B1_IN_PACKED"] if packed_in else []
    extra = ""
    if base in em.pop_limits:
        flags.append("EC_B1_OUT_PACKED")
        limits = em.array(f"{base}_pop_limits", "int32_t", em.pop_limits[base])
        operands = f"NULL, NULL, NULL, NULL, {limits}"
        extra = "packed bits out, "
    else:
        steps_sym = em.array(f"{base}_weight_steps", "int32_t", weight_steps(c.w))
        operands = f"{c.bias}, {steps_sym}, {c.mult}, {c.shift}, NULL"
    extra = ("packed bits in, " if packed_in else "") + extra
    call = (f"{c.kernel}({c.xin}, {w_sym}, {operands}, &{c.win}, &{c.qp}, {' | '.join(flags) or 0}, "
            f"(uint32_t *)${{scratch}}, {c.yout});")
    return call, extra


def _call_bitserial(em: Emitter, c: ConvOperands) -> tuple:
    """The K weight bit planes and the weight steps; M activation bit planes."""
    m_bits, k_bits = c.precision.act_bits, c.precision.weight_bits
    w_sym = _packed_weights(em, c)
    steps_sym = em.array(f"{c.node.name}_weight_steps", "int32_t", weight_steps(c.w))
    call = (f"{c.kernel}({c.xin}, {w_sym}, {c.bias}, {steps_sym}, {c.mult}, {c.shift}, &{c.win}, &{c.qp}, {m_bits}, "
            f"{k_bits}, (uint32_t *)${{scratch}}, {c.yout});")
    return call, f"w{k_bits}a{m_bits}, "


# Integer conv kernel -> the function emitting its arrays and call: (C call, summary text).
CONV_CALLS: dict = {
    "ec_s8_conv2d_slidingwin": _call_direct,
    "ec_s8_conv2d_im2col": _call_im2col,
    "ec_s8_conv2d_1x1": _call_pointwise,
    "ec_s8_dwconv2d_3x3": _call_direct,
    "ec_s8_dwconv2d_generic": _call_direct,
    "ec_b1_conv2d_xnor": _call_xnor,
    "ec_s8_conv2d_bitserial": _call_bitserial,
}


def lower_conv(em: Emitter, node: Node, fused_pad: Optional[Node] = None) -> LayerCall:
    g = em.graph
    op: ops.Conv = node.op
    x_name = node.inputs[0] if fused_pad is None else fused_pad.inputs[0]
    x, wt, y = g.tensors[x_name], g.tensors[node.inputs[1]], g.tensors[node.output]
    b = _bias_tensor(g, node)
    require(op.rank in (1, 2), f"{op.rank}-D convolution")
    require(wt.is_constant, "weights must be constant")
    pads = tuple(fused_pad.op.pads) if fused_pad is not None else tuple(op.pads)
    k = wt.shape[2:]
    win_fields = window_fields(x, y, k, op.stride, pads, op.dilation, op.groups)
    shape_text = "x".join(str(d) for d in k)
    stride_text = "s" + "x".join(str(s) for s in sorted(set(op.stride)))
    if is_float(y):
        return _lower_conv_f32(em, node, x, wt, b, win_fields, f"{shape_text} {stride_text}")
    require(x.dtype == "int8" and y.dtype == "int8" and wt.dtype == "int8",
            "int8 convolution needs int8 input, weights and output")
    _, zp_in = per_tensor(x, "input")
    _, zp_out = per_tensor(y, "output")
    w = wt.data.astype(np.int64)
    if b is not None:
        require(b.is_constant and b.dtype == "int32", "bias must be a constant int32 tensor")
    bias = b.data.astype(np.int64) if b is not None else np.zeros(w.shape[0], dtype=np.int64)
    require_int32_accumulator(w.reshape(w.shape[0], -1), bias)
    geo = geometry(g, node)
    kernel = conv_kernel(geo, node, x, w)
    qlo, qhi = activation_bounds(op.clamp, y)
    base = node.name
    mult = shift = bias_sym = None
    if node.name not in em.pop_limits:  # a packed output folds these into its popcount limits
        mult, shift = requant_arrays(em, base, node, w.shape[0])
        bias_sym = em.array(f"{base}_bias", "int32_t", bias)
    win = em.struct(f"{base}_win", "ec_window_t", win_fields)
    qp = em.struct(f"{base}_q", "ec_qparams_t", qparams(zp_in, zp_out, qlo, qhi))
    precision = parse_precision(node.precision) if node.precision else INT8
    tasks = task_count(em, kernel, y.shape, geo.macs)
    xin, yout, win_arg = _task_operands(em, kernel, tasks, x_name, node.output, win)
    operands = ConvOperands(kernel, node, geo, precision, w, x_name, xin, yout, win_arg, qp, bias_sym, mult, shift)
    call, extra = CONV_CALLS[kernel](em, operands)
    call = _task_call(kernel, tasks, win, y.shape, call)
    scratch_bytes = BY_NAME[kernel].scratch(geo, precision)
    summary = (f"{shape_text} {stride_text}, {geo.c_in}->{w.shape[0]}"
               f"{', groups ' + str(op.groups) if op.groups > 1 else ''}, {extra}{node.precision}, "
               f"{BY_NAME[kernel].algorithm}")
    return LayerCall(node, kernel, summary, call, [x_name], scratch_bytes,
                     skipped_nodes=(fused_pad.name,) if fused_pad is not None else (),
                     tasks=tasks, split_note=note(kernel, tasks) if tasks > 1 else "")


def _task_operands(em: Emitter, kernel: str, tasks: int, x_name: str, y_name: str, win: str) -> tuple:
    """(input, output, window) operands of a conv call: the whole layer's, or one task's
    (``tasks.rows_task`` / ``tasks.positions_task``: window ``part`` from input row ``first`` or
    position ``u0``, output from row or position ``u0``)."""
    xin, yout = em.buf(x_name), em.buf(y_name)
    if tasks == 1:
        return xin, yout, win
    if BY_NAME[kernel].split.kind == "positions":
        return (at(xin, "u0", position_elements(em, x_name)), at(yout, "u0", position_elements(em, y_name)),
                "part")
    return at(xin, "first", row_elements(em, x_name)), at(yout, "u0", row_elements(em, y_name)), "part"


def _task_call(kernel: str, tasks: int, win: str, out_shape: tuple, call: str) -> str:
    if tasks == 1:
        return call
    h, w, _ = hwc3(out_shape)
    if BY_NAME[kernel].split.kind == "positions":
        return positions_task(kernel, win, h * w, call)
    return rows_task(kernel, win, h, call)


def _lower_conv_f32(em: Emitter, node: Node, x: Tensor, wt: Tensor, b: Optional[Tensor], win_fields: list,
                    window_text: str) -> LayerCall:
    require(is_float(x) and wt.dtype == "float32", "float convolution needs float32 input and weights")
    geo = geometry(em.graph, node)
    kernel = f32_conv_kernel(geo, node)
    ctype, packed = BY_NAME[kernel].pack(wt.data, geo, None)
    w_sym = em.array(f"{node.name}_weights", ctype, packed)
    bias_sym = em.array(f"{node.name}_bias", "float", b.data) if b is not None else "NULL"
    win = em.struct(f"{node.name}_win", "ec_window_t", win_fields)
    lo, hi = float_clamp(node.op.clamp)
    y_shape = em.graph.tensors[node.output].shape
    tasks = task_count(em, kernel, y_shape, geo.macs)
    xin, yout, win_arg = _task_operands(em, kernel, tasks, node.inputs[0], node.output, win)
    call = _task_call(kernel, tasks, win, y_shape, f"{kernel}({xin}, {w_sym}, {bias_sym}, &{win_arg}, {lo}, {hi}, {yout});")
    summary = f"{window_text}, {x.shape[1]}->{wt.shape[0]}, fp32, {BY_NAME[kernel].algorithm}"
    return LayerCall(node, kernel, summary, call, [node.inputs[0]], tasks=tasks,
                     split_note=note(kernel, tasks) if tasks > 1 else "")


def lower_linear(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    op: ops.Linear = node.op
    x, wt, y = (g.tensors[n] for n in (node.inputs[0], node.inputs[1], node.output))
    b = _bias_tensor(g, node)
    require(wt.is_constant, "weights must be constant")
    n_in, n_out = wt.shape[1], wt.shape[0]
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    if is_float(y):
        kernel = "ec_f32_fully_connected"
        tasks = task_count(em, kernel, y.shape, n_in * n_out)
        w_sym = em.array(f"{node.name}_weights", "float", wt.data)
        bias_sym = em.array(f"{node.name}_bias", "float", b.data) if b is not None else "NULL"
        lo, hi = float_clamp(op.clamp)
        if tasks == 1:
            call = f"{kernel}({xin}, {w_sym}, {bias_sym}, {n_in}, {n_out}, {lo}, {hi}, {yout});"
        else:
            bias_part = at(bias_sym, "u0", 1) if b is not None else "NULL"
            call = units_task(kernel, n_out, f"{kernel}({xin}, {at(w_sym, 'u0', n_in)}, {bias_part}, {n_in}, u1 - u0, "
                                             f"{lo}, {hi}, {at(yout, 'u0', 1)});")
        return LayerCall(node, kernel, f"{n_in}->{n_out}, fp32", call, [node.inputs[0]], tasks=tasks,
                         split_note=note(kernel, tasks) if tasks > 1 else "")
    if node.inputs[0] in em.packed:
        return _lower_linear_packed(em, node)
    _, zp_in = per_tensor(x, "input")
    _, zp_out = per_tensor(y, "output")
    w = columns_in_input_order(em, node.inputs[0], wt.data.astype(np.int64))
    bias = b.data.astype(np.int64) if b is not None else np.zeros(n_out, dtype=np.int64)
    require_int32_accumulator(w, bias)
    mult, shift = requant_arrays(em, node.name, node, n_out)
    qlo, qhi = activation_bounds(op.clamp, y)
    w_sym, wsum_sym = _gemm_arrays(em, node.name, w)
    bias_sym = em.array(f"{node.name}_bias", "int32_t", bias)
    qp = em.struct(f"{node.name}_q", "ec_qparams_t", qparams(zp_in, zp_out, qlo, qhi))
    kernel = "ec_s8_fully_connected"
    tasks = task_count(em, kernel, y.shape, n_in * n_out)
    if tasks == 1:
        call = f"{kernel}({xin}, {w_sym}, {bias_sym}, {wsum_sym}, {mult}, {shift}, {n_in}, {n_out}, &{qp}, {yout});"
    else:  # a task starts on a block of 16 packed rows of K rounded up to 4 bytes (pack_gemm_weights)
        per_channel = ", ".join(at(sym, "u0", 1) for sym in (bias_sym, wsum_sym, mult, shift))
        call = units_task(kernel, n_out, f"{kernel}({xin}, {at(w_sym, 'u0', -(-n_in // 4) * 4)}, {per_channel}, "
                                         f"{n_in}, u1 - u0, &{qp}, {at(yout, 'u0', 1)});")
    return LayerCall(node, kernel, f"{n_in}->{n_out}, {node.precision}", call, [node.inputs[0]], tasks=tasks,
                     split_note=note(kernel, tasks) if tasks > 1 else "")


def _lower_linear_packed(em: Emitter, node: Node) -> LayerCall:
    """A binary Linear reading a flattened map as packed words, pixel by pixel (packed.py): its
    weight columns, in the reference's channels-first flatten order, are regrouped by pixel and
    packed like the input."""
    g = em.graph
    wt, y = g.tensors[node.inputs[1]], g.tensors[node.output]
    b = _bias_tensor(g, node)
    flatten = g.producer(g.producer(node.inputs[0]).inputs[0])  # Sign <- flatten
    channels = g.tensors[flatten.inputs[0]].shape[1]
    w = wt.data.astype(np.int64)
    n_out, k_total = w.shape
    by_pixel = np.moveaxis(w.reshape(n_out, channels, k_total // channels), 1, -1)  # O, H*W, C
    packed_rows = pack_bits((by_pixel < 0).astype(np.uint64)).reshape(n_out, -1)
    bias = b.data.astype(np.int64) if b is not None else np.zeros(n_out, dtype=np.int64)
    require_int32_accumulator(w, bias)
    mult, shift = requant_arrays(em, node.name, node, n_out)
    qlo, qhi = activation_bounds(node.op.clamp, y)
    w_sym = em.array(f"{node.name}_weights", "uint32_t", packed_rows)
    bias_sym = em.array(f"{node.name}_bias", "int32_t", bias)
    steps_sym = em.array(f"{node.name}_weight_steps", "int32_t", weight_steps(w))
    qp = em.struct(f"{node.name}_q", "ec_qparams_t", qparams(0, int(y.quant.zero_point[0]), qlo, qhi))
    kernel = "ec_b1_fully_connected"
    tasks = task_count(em, kernel, y.shape, k_total * n_out)
    words, xin, yout = packed_rows.shape[1], em.buf(node.inputs[0]), em.buf(node.output)
    if tasks == 1:
        call = (f"{kernel}({xin}, {w_sym}, {bias_sym}, {steps_sym}, {mult}, {shift}, {k_total}, {words}, {n_out}, "
                f"&{qp}, {yout});")
    else:  # weight rows of `words` words each
        per_channel = ", ".join(at(sym, "u0", 1) for sym in (bias_sym, steps_sym, mult, shift))
        call = units_task(kernel, n_out, f"{kernel}({xin}, {at(w_sym, 'u0', words)}, {per_channel}, {k_total}, "
                                         f"{words}, u1 - u0, &{qp}, {at(yout, 'u0', 1)});")
    return LayerCall(node, kernel, f"{k_total}->{n_out}, w1a1, packed bits in, xnor-popcount", call,
                     [node.inputs[0]], tasks=tasks, split_note=note(kernel, tasks) if tasks > 1 else "")
