"""Kernel-call parameters derived from IR tensors: quantization of a tensor, the ``ec_window_t`` of a
window op, per-channel requantization arrays, clamp bounds, the int32 accumulator bound. Integer
parameters come from ``quant.integer_params``, as the reference executor's do, so the C kernels
only apply them."""

from __future__ import annotations

import numpy as np

from ...ir import Node, Tensor
from ...quant.activation_range import activation_range
from ...quant.integer_params import weighted_requantization
from .emitter import Emitter, require
from .layout import hwc3

INT32_MAX = 2**31 - 1


def is_float(t: Tensor) -> bool:
    return t.dtype == "float32"


def per_tensor(t: Tensor, what: str) -> tuple:
    """(scale, zero point) of a per-tensor quantized tensor."""
    require(t.quant is not None and not t.quant.per_channel, f"{what} {t.name} needs per-tensor quantization")
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def same_quant(x: Tensor, y: Tensor, what: str) -> None:
    require(x.quant == y.quant, f"int8 {what} needs the same quantization on input and output")


def window_fields(x: Tensor, y: Tensor, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple,
                  groups: int = 1) -> dict:
    """Fields of an ``ec_window_t`` (``ec_common.h``) for a 1-D or 2-D window op."""
    in_h, in_w, in_c = hwc3(x.shape)
    out_h, out_w, out_c = hwc3(y.shape)
    if len(kernel) == 1:
        kernel, stride, dilation = (1, kernel[0]), (1, stride[0]), (1, dilation[0])
        pads = (0, pads[0], 0, pads[1])
    return {"in_h": in_h, "in_w": in_w, "in_c": in_c, "out_h": out_h, "out_w": out_w, "out_c": out_c,
            "k_h": kernel[0], "k_w": kernel[1], "stride_h": stride[0], "stride_w": stride[1],
            "pad_top": pads[0], "pad_left": pads[1], "pad_bottom": pads[2], "pad_right": pads[3],
            "dil_h": dilation[0], "dil_w": dilation[1], "groups": groups}


def qparams(in_zp: int, out_zp: int, act_min: int, act_max: int) -> dict:
    """Fields of an ``ec_qparams_t`` (``ec_common.h``)."""
    return {"in_zp": in_zp, "out_zp": out_zp, "act_min": act_min, "act_max": act_max}


def activation_bounds(node_clamp: tuple, out: Tensor) -> tuple:
    """(qmin, qmax) of an int8 output after the node's fused clamp."""
    return activation_range(node_clamp, out.quant)


def requant_arrays(em: Emitter, name: str, node: Node, channels: int) -> tuple:
    """Per-channel multiplier and shift arrays, derived by the integer reference itself."""
    rq = weighted_requantization(node, em.graph)
    q = np.broadcast_to(rq.multiplier, (channels,))
    shift = np.broadcast_to(rq.shift, (channels,))
    return em.array(f"{name}_mult", "int32_t", q), em.array(f"{name}_shift", "int32_t", shift)


def accumulator_bound(w_rows: np.ndarray, bias: np.ndarray) -> int:
    """max |bias| + 255 * max_o sum_k |W[o, k]|: the largest |acc| of any partial sum (|x - zp| <= 255)."""
    per_channel = np.abs(w_rows.astype(np.int64)).sum(axis=1)
    return int(np.abs(bias).max(initial=0)) + 255 * int(per_channel.max(initial=0))


def require_int32_accumulator(w_rows: np.ndarray, bias: np.ndarray) -> None:
    bound = accumulator_bound(w_rows, bias)
    require(bound <= INT32_MAX, f"accumulator bound {bound} exceeds int32")
