"""Lowering of the ops that move values between positions: Transpose (``ec_transpose``), Slice
(``ec_slice``) and ResizeNearest (``ec_resize_nearest``), on the channels-last bytes of
``layout.c_dims``."""

from __future__ import annotations

import math

import numpy as np

from ...ir import Node, ops
from .emitter import Emitter, LayerCall, require
from .layout import c_axis, c_dims, hwc3
from .params import is_float, same_quant

MAX_RANK = 6  # EC_TRANSPOSE_MAX_RANK in ec_layout.h


def _stored_order(rank: int) -> list:
    """The IR dims of one sample in the order the C model stores them (``layout.c_dims``)."""
    return [*range(2, rank), 1] if rank >= 3 else [1]


def stored_permutation(perm: tuple) -> list:
    """The permutation of the stored dims equal to IR ``perm``: with ``S`` the stored order of the
    input and of the output (same rank), output stored dim ``i`` is input stored dim
    ``S.index(perm[S[i]])``."""
    order = _stored_order(len(perm))
    return [order.index(perm[axis]) for axis in order]


def lower_transpose(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    op: ops.Transpose = node.op
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    if not is_float(y):
        same_quant(x, y, "transposition")
    dims = c_dims(x.shape)
    require(len(dims) <= MAX_RANK, f"a transposition of rank {len(x.shape)} (at most {MAX_RANK + 1} dims)")
    perm = stored_permutation(op.perm)
    item = np.dtype(y.dtype).itemsize
    dims_sym = em.array(f"{node.name}_dims", "int32_t", np.array(dims, dtype=np.int32), weights=False)
    perm_sym = em.array(f"{node.name}_perm", "int32_t", np.array(perm, dtype=np.int32), weights=False)
    call = f"ec_transpose({em.buf(node.inputs[0])}, {dims_sym}, {perm_sym}, {len(dims)}, {item}, {em.buf(node.output)});"
    return LayerCall(node, "ec_layout", f"permutation {op.perm}", call, [node.inputs[0]])


def lower_slice(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    op: ops.Slice = node.op
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    if not is_float(y):
        same_quant(x, y, "slicing")
    dims = c_dims(x.shape)
    axis = c_axis(len(x.shape), op.axis)
    item = np.dtype(y.dtype).itemsize
    inner = math.prod(dims[axis + 1:]) * item
    outer = math.prod(dims[:axis])
    call = (f"ec_slice({em.buf(node.inputs[0])}, {outer}, {dims[axis] * inner}, {op.start * inner}, "
            f"{(op.end - op.start) * inner}, {em.buf(node.output)});")
    return LayerCall(node, "ec_layout", f"[{op.start}:{op.end}] along axis {op.axis}", call, [node.inputs[0]])


def lower_resize_nearest(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    if not is_float(y):
        same_quant(x, y, "nearest resize")
    h, w, c = hwc3(x.shape)
    factors = node.op.factors(x.shape)
    fh, fw = (1, *factors) if len(factors) == 1 else factors
    pixel = c * np.dtype(y.dtype).itemsize
    call = f"ec_resize_nearest({em.buf(node.inputs[0])}, {h}, {w}, {pixel}, {fh}, {fw}, {em.buf(node.output)});"
    return LayerCall(node, "ec_layout", f"nearest x{fh}x{fw}", call, [node.inputs[0]])
