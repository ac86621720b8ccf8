"""Lowering of the data-movement ops: Pad, Concat and Reshape (flatten), and the channels-last
flatten that lets an int8 Linear read a feature map without a copy."""

from __future__ import annotations

import math

import numpy as np

from ...ir import Graph, Node, ops
from ...quant.activation_range import quantize_scalar
from .emitter import Emitter, LayerCall, float_literal, require
from .layout import c_axis, c_dims, hwc3, is_layout_trivial, sample_bytes
from .params import is_float, same_quant

def lower_pad(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    op: ops.Pad = node.op
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    h, w, c = hwc3(x.shape)
    r = len(op.pads) // 2
    require(r in (1, 2), "padding of more than 2 spatial dims")
    pads = (0, op.pads[0], 0, op.pads[1]) if r == 1 else (op.pads[0], op.pads[1], op.pads[2], op.pads[3])
    pads_sym = em.array(f"{node.name}_pads", "int32_t", np.array(pads, dtype=np.int32), weights=False)
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    if is_float(y):
        call = f"ec_f32_pad({xin}, {h}, {w}, {c}, {pads_sym}, {float_literal(op.value)}, {yout});"
        return LayerCall(node, "ec_f32_pad", "fp32", call, [node.inputs[0]])
    same_quant(x, y, "padding")
    value = int(np.clip(quantize_scalar(op.value, x.quant), -128, 127))
    call = f"ec_s8_pad({xin}, {h}, {w}, {c}, {pads_sym}, {value}, {yout});"
    return LayerCall(node, "ec_s8_pad", f"value {op.value:g} (q={value}), int8", call, [node.inputs[0]])


def lower_concat(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    y = g.tensors[node.output]
    xs = [g.tensors[n] for n in node.inputs]
    for x in xs:
        require(x.dtype == y.dtype, "concatenation of different dtypes")
        if not is_float(y):
            same_quant(x, y, "concatenation")
    axis = c_axis(len(y.shape), node.op.axis)
    dims = c_dims(y.shape)
    outer = math.prod(dims[:axis])
    item = np.dtype(y.dtype).itemsize
    inner = np.array([math.prod(c_dims(x.shape)[axis:]) * item for x in xs], dtype=np.int32)
    inner_sym = em.array(f"{node.name}_inner", "int32_t", inner, weights=False)
    ptrs = ", ".join(f"(const void *){em.buf(n)}" for n in node.inputs)
    call = (f"{{\n        const void *const parts[{len(xs)}] = {{{ptrs}}};\n"
            f"        ec_concat(parts, {inner_sym}, {len(xs)}, {outer}, {em.buf(node.output)});\n    }}")
    return LayerCall(node, "ec_layout", f"{len(xs)} inputs along axis {node.op.axis}", call, list(node.inputs))


def _per_element_int8(graph: Graph, node: Node) -> bool:
    """An int8 op mapping each element on its own (a lookup table, a clamp): its output keeps the
    byte order of its input, whatever that order is."""
    return (node.op.PER_ELEMENT and len(node.inputs) == 1
            and graph.tensors[node.output].dtype == "int8" and graph.tensors[node.inputs[0]].dtype == "int8")


def _read_only_by_linear(graph: Graph, tensor: str) -> bool:
    """Whether ``tensor`` reaches only Linear layers (as their input), directly or through per-element
    int8 ops (the binarizing Sign before an XNOR classifier), and no graph output."""
    readers = graph.consumers(tensor)
    return (tensor not in graph.outputs and bool(readers) and all(
        (isinstance(n.op, ops.Linear) and n.inputs[0] == tensor)
        or (_per_element_int8(graph, n) and _read_only_by_linear(graph, n.output)) for n in readers))


def _keep_channels_last(em: Emitter, tensor: str, order: tuple) -> None:
    """Record that ``tensor`` and the per-element ops' outputs after it hold channels-last bytes."""
    em.channels_last_flat[tensor] = order
    for reader in em.graph.consumers(tensor):
        if _per_element_int8(em.graph, reader):
            _keep_channels_last(em, reader.output, order)


def columns_in_input_order(em: Emitter, x_name: str, w: np.ndarray) -> np.ndarray:
    """int8 Linear weights (O, C*H*W) in the byte order of their input: permuted to (O, H*W*C) when
    the input is a flatten kept in channels-last order (``Emitter.channels_last_flat``)."""
    if x_name not in em.channels_last_flat:
        return w
    channels, positions = em.channels_last_flat[x_name]
    return w.reshape(w.shape[0], channels, positions).transpose(0, 2, 1).reshape(w.shape[0], -1)


def lower_reshape(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    item = np.dtype(y.dtype).itemsize
    in_trivial, out_trivial = is_layout_trivial(x.shape), is_layout_trivial(y.shape)
    if in_trivial and out_trivial:
        return LayerCall(node, "ec_layout", "no data movement", "", [node.inputs[0]], alias_of=node.inputs[0])
    if node.output in em.packed:
        return LayerCall(node, "ec_layout", "flatten of packed bits, read pixel by pixel: no data movement", "",
                         [node.inputs[0]], alias_of=node.inputs[0])
    in_hw, out_hw = math.prod(x.shape[2:]), math.prod(y.shape[2:])
    if len(y.shape) == 2 and y.dtype == "int8" and _read_only_by_linear(g, node.output):
        # An int8 flatten whose readers are all Linear layers (maybe behind per-element ops): the
        # bytes stay in channels-last order and each Linear's weight columns are permuted to match
        # (conv.lower_linear), so nothing moves. Integer sums do not depend on their order; a float
        # Linear keeps the channels-first order, as its float32 sum must follow the reference's.
        _keep_channels_last(em, node.output, (x.shape[1], in_hw))
        return LayerCall(node, "ec_layout", "flatten read in channels-last order: no data movement", "",
                         [node.inputs[0]], alias_of=node.inputs[0])
    if not out_trivial and in_trivial:
        call = f"ec_chw_to_hwc({xin}, {out_hw}, {y.shape[1]}, {item}, {yout});"
        return LayerCall(node, "ec_layout", "channels-first -> channels-last", call, [node.inputs[0]])
    if out_trivial:
        call = f"ec_hwc_to_chw({xin}, {in_hw}, {x.shape[1]}, {item}, {yout});"
        return LayerCall(node, "ec_layout", "channels-last -> channels-first", call, [node.inputs[0]])
    call = (f"ec_hwc_to_chw({xin}, {in_hw}, {x.shape[1]}, {item}, ${{scratch}});\n"
            f"    ec_chw_to_hwc(${{scratch}}, {out_hw}, {y.shape[1]}, {item}, {yout});")
    return LayerCall(node, "ec_layout", "reorder through channels-first", call, [node.inputs[0]],
                     scratch_bytes=sample_bytes(x))
