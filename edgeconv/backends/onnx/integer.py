"""int8 element-wise ops written in integer arithmetic, so ONNX Runtime computes the reference's
bytes.

In QDQ form ONNX Runtime computes an element-wise op in float (or, fused, through its own float
tables) and rounds once, half to even. TFLite's int8 kernels, which the reference executor
follows, compute in fixed point: HARD_SWISH and LOGISTIC with 16-bit intermediates, MUL with
``MultiplyByQuantizedMultiplier``'s two roundings. Where the two land on different codes the
difference grows through the layers after it (in a squeeze-excitation block the gate multiplies a
whole feature map). So these ops are written on the integer codes:

- a per-element int8 -> int8 op (activations, an int8 -> int8 Quantize) is a function of 256
  codes: ``QuantizeLinear`` recovers the input's uint8 code ``q + 128`` (exact: the input lies on
  its grid), ``Gather`` reads the op's table (``reference.tables``, stored as uint8 codes) and
  ``DequantizeLinear`` gives the real value;
- MUL computes ``(a - zp_a) * (b - zp_b)`` in int64 (at most 255 * 255 in magnitude) and TFLite's
  requantization with ``(q, shift) = QuantizeMultiplier(s_a * s_b / s_out)``:

      x  = product * 2**max(shift, 0)
      h  = floor((x * q + 2**30) / 2**31)                  SaturatingRoundingDoublingHighMul
      r  = floor((h + 2**(e-1) - [h < 0]) / 2**e),  e = max(-shift, 0)   RoundingDivideByPOT

  then ``+ zp_out`` and the clamp. The first line is gemmlowp's ``(ab + nudge) / 2**31`` with C's
  truncating division, which for either sign of ``ab`` equals the floor written here (the
  saturating case ``a = b = INT32_MIN`` cannot occur: ``|x| < 2**31`` is checked); the second is
  ``(h >> e) + (remainder > threshold)``, rounding half away from zero. ``floor(t / 2**k)`` is
  ``(t - Mod(t, 2**k)) / 2**k``: ``Mod`` with ``fmod = 0`` takes the divisor's sign, so the
  division is exact and its rounding mode never matters.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ...ir import Node, QuantParams
from ...quant.activation_range import activation_range
from ...quant.integer_params import mul_multiplier
from ...reference.tables import int8_table
from .emitter import UINT8_OFFSET, Emitter, as_uint8

INT32_LIMIT = 1 << 31


def _stored_zero_point(q: QuantParams) -> int:
    return int(q.zero_point[0]) + UINT8_OFFSET


def uint8_codes(e: Emitter, value: str, q: QuantParams, base: str) -> str:
    """The stored uint8 codes ``q + 128`` of on-grid float tensor ``value``."""
    codes = e.unique(base + "_codes")
    e.add("QuantizeLinear", [value, e.scalar(base + "_scale", float(q.scale[0])),
                             e.initializer(base + "_zero_point", as_uint8(int(q.zero_point[0])))], [codes])
    return codes


def centred_codes(e: Emitter, value: str, q: QuantParams, base: str) -> str:
    """int64 ``q - zp`` of on-grid float tensor ``value``."""
    wide = e.unique(base + "_int64")
    e.add("Cast", [uint8_codes(e, value, q, base)], [wide], to=TensorProto.INT64)
    centred = e.unique(base + "_centred")
    e.add("Sub", [wide, e.initializer(base + "_offset", np.array(_stored_zero_point(q), dtype=np.int64))], [centred])
    return centred


def _int(e: Emitter, base: str, value: int) -> str:
    return e.initializer(base, np.array(value, dtype=np.int64))


def floor_div_pow2(e: Emitter, t: str, k: int, base: str) -> str:
    """``floor(t / 2**k)`` of int64 tensor ``t``."""
    divisor = _int(e, base + "_divisor", 1 << k)
    remainder, exact, out = e.unique(base + "_mod"), e.unique(base + "_exact"), e.unique(base + "_floor")
    e.add("Mod", [t, divisor], [remainder], fmod=0)
    e.add("Sub", [t, remainder], [exact])
    e.add("Div", [exact, divisor], [out])
    return out


def multiply_by_quantized_multiplier(e: Emitter, x: str, bound: int, q: int, shift: int, base: str) -> str:
    """TFLite's ``MultiplyByQuantizedMultiplier`` of int64 tensor ``x`` (``|x| <= bound``)."""
    left, right = max(shift, 0), max(-shift, 0)
    if bound << left >= INT32_LIMIT:
        raise ValueError(f"{base}: {bound} << {left} leaves int32 (TFLite would wrap)")
    if left:
        shifted = e.unique(base + "_shifted")
        e.add("Mul", [x, _int(e, base + "_left", 1 << left)], [shifted])
        x = shifted
    product, nudged = e.unique(base + "_product"), e.unique(base + "_nudged")
    e.add("Mul", [x, _int(e, base + "_multiplier", q)], [product])
    e.add("Add", [product, _int(e, base + "_nudge", 1 << 30)], [nudged])
    high = floor_div_pow2(e, nudged, 31, base + "_high")
    if not right:
        return high
    negative, below, half, rounded = (e.unique(base + s) for s in ("_negative", "_below", "_half", "_rounded"))
    e.add("Less", [high, _int(e, base + "_zero", 0)], [negative])
    e.add("Cast", [negative], [below], to=TensorProto.INT64)
    e.add("Add", [high, _int(e, base + "_half_step", 1 << (right - 1))], [half])
    e.add("Sub", [half, below], [rounded])
    return floor_div_pow2(e, rounded, right, base + "_rounded")


def dequantize_codes(e: Emitter, centred: str, q: QuantParams, clamp: tuple, dst: str) -> None:
    """``clamp(centred + zp, qlo, qhi)`` as the real values of tensor ``dst``."""
    qlo, qhi = activation_range(clamp, q)
    zp = _stored_zero_point(q)
    stored, clipped, codes = e.unique(dst + "_stored"), e.unique(dst + "_clipped"), e.unique(dst + "_uint8")
    e.add("Add", [centred, _int(e, dst + "_offset", zp)], [stored])
    e.add("Clip", [stored, _int(e, dst + "_lo", qlo + UINT8_OFFSET), _int(e, dst + "_hi", qhi + UINT8_OFFSET)],
          [clipped])
    e.add("Cast", [clipped], [codes], to=TensorProto.UINT8)
    e.add("DequantizeLinear", [codes, e.scalar(dst + "_scale", float(q.scale[0])),
                               e.initializer(dst + "_zero_point", as_uint8(int(q.zero_point[0])))], [dst])


def is_int8_elementwise(e: Emitter, node: Node) -> bool:
    """True when ``node`` maps int8 codes to int8 codes, one element at a time."""
    x, y = e.graph.tensors[node.inputs[0]], e.graph.tensors[node.output]
    return x.dtype == "int8" and y.dtype == "int8" and not x.is_constant


def lookup(e: Emitter, node: Node) -> None:
    """An int8 -> int8 per-element op as ``Gather`` of its reference table."""
    x, y = e.graph.tensors[node.inputs[0]], e.graph.tensors[node.output]
    base = node.output
    index = e.unique(base + "_index")
    e.add("Cast", [uint8_codes(e, e.value(node.inputs[0]), x.quant, base + "_in")], [index], to=TensorProto.INT64)
    table = e.initializer(f"{node.name}_{node.op_name}_table", as_uint8(int8_table(e.graph, node)))
    codes = e.unique(base + "_uint8")
    e.add("Gather", [table, index], [codes], axis=0)
    e.add("DequantizeLinear", [codes, e.scalar(base + "_scale", float(y.quant.scale[0])),
                               e.initializer(base + "_zero_point", as_uint8(int(y.quant.zero_point[0])))],
          [node.output])


def mul(e: Emitter, node: Node) -> None:
    """MUL int8 (broadcasting as numpy does) in TFLite's integer arithmetic."""
    g = e.graph
    (qa, qb), qo = (g.tensors[n].quant for n in node.inputs), g.tensors[node.output].quant
    a, b = (centred_codes(e, e.value(n), g.tensors[n].quant, f"{node.output}_{side}")
            for n, side in zip(node.inputs, "ab"))
    product = e.unique(node.output + "_codes_product")
    e.add("Mul", [a, b], [product])
    bound = (max(_stored_zero_point(qa), 255 - _stored_zero_point(qa))
             * max(_stored_zero_point(qb), 255 - _stored_zero_point(qb)))
    q, shift = mul_multiplier(float(qa.scale[0]), float(qb.scale[0]), float(qo.scale[0]))
    scaled = multiply_by_quantized_multiplier(e, product, bound, q, shift, node.output + "_requantized")
    dequantize_codes(e, scaled, qo, node.op.clamp, node.output)
