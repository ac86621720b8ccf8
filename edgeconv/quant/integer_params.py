"""Integer parameters of the int8 kernels, derived from the tensors' quantization as TFLite Micro
derives them: requantization multipliers and shifts, the add, mul and mean multipliers, and the
fixed-point constants of softmax and logistic.

The reference kernels (``reference/int_kernels.py``) and every backend take their parameters from
these functions, so a generated kernel only applies numbers the reference itself used.

Notation: ``QM(m)`` is ``QuantizeMultiplier(m)`` (``quant/fixedpoint.py``): ``m ≈ q * 2**(shift -
31)`` with ``q`` in ``[2**30, 2**31)``; ``MBQM(x, q, shift)`` is ``MultiplyByQuantizedMultiplier``.
Scales are the float32 values of the model, widened to double where TFLite widens them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph, GraphError, Node, QuantParams
from .activation_range import activation_range, round_half_away
from .fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, quantize_multipliers, wrap32


def tensor_quant(graph: Graph, name: str) -> QuantParams:
    """The quantization of integer tensor ``name``; a GraphError when it has none."""
    quant = graph.tensors[name].quant
    if quant is None:
        raise GraphError(f"tensor {name} is integer but has no quantization parameters")
    return quant


@dataclass(frozen=True)
class Requantization:
    """int32 accumulator -> int8: ``clamp(MBQM(acc, multiplier, shift) + zero_point, qmin, qmax)``.

    ``multiplier``/``shift`` are int64 arrays, one entry per output channel (or one).
    """

    multiplier: np.ndarray
    shift: np.ndarray
    zero_point: int
    qmin: int
    qmax: int

    def apply(self, acc: np.ndarray, channel_axis: int = 1) -> np.ndarray:
        shape = [1] * acc.ndim
        if self.multiplier.size > 1:
            shape[channel_axis] = self.multiplier.size
        q = self.multiplier.reshape(shape)
        shift = self.shift.reshape(shape)
        out = multiply_by_quantized_multiplier(wrap32(acc), q, shift) + self.zero_point
        return np.clip(out, self.qmin, self.qmax).astype(np.int8)


def weighted_requantization(node: Node, graph: Graph) -> Requantization:
    """Requantization of a quantized Conv or Linear node, exactly as TFLite Micro derives it.

    ``QM(double(s_in) * double(s_w[c]) / double(s_out))``: each float32 scale is widened to double
    *before* the product, for every Conv (``PopulateConvolutionQuantizationParams``) and for a
    FULLY_CONNECTED with one weight scale too (``GetQuantizedConvolutionMultipler`` multiplies the
    scales as doubles). Rounding the product to float32 first moves ``q`` by tens of units and the
    output by one LSB on some accumulators, so no float32 step appears here. The output range is
    the node's fused clamp on the output grid (``activation_range``).
    """
    x_q = tensor_quant(graph, node.inputs[0])
    w_q = tensor_quant(graph, node.inputs[1])
    out_q = tensor_quant(graph, node.output)
    s_in = np.float64(x_q.scale[0])
    s_out = np.float64(out_q.scale[0])
    q, shift = quantize_multipliers(s_in * w_q.scale.astype(np.float64) / s_out)
    qlo, qhi = activation_range(node.op.clamp, out_q)
    return Requantization(q.astype(np.int64), shift.astype(np.int64), int(out_q.zero_point[0]), qlo, qhi)


ADD_LEFT_SHIFT = 20


@dataclass(frozen=True)
class AddMultipliers:
    """ADD int8 (``add_common.cc``): both inputs are brought to ``twice_max = 2 * max(s_a, s_b)``
    after a left shift by ``left_shift`` (``a' = MBQM((a - zp_a) << 20, QM(s_a / twice_max))``,
    likewise ``b'``), then ``out = MBQM(a' + b', QM(twice_max / (2**20 * s_out))) + zp_out``.
    Bound: ``|a - zp_a| << 20 <= 255 * 2**20`` fits int32; each scaled input is at most half that.
    Each pair is ``(q, shift)``."""

    left_shift: int
    a: tuple
    b: tuple
    out: tuple


def add_multipliers(s_a: float, s_b: float, s_out: float) -> AddMultipliers:
    twice_max = 2.0 * max(s_a, s_b)
    return AddMultipliers(
        ADD_LEFT_SHIFT,
        quantize_multiplier(s_a / twice_max),
        quantize_multiplier(s_b / twice_max),
        quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * s_out)),
    )


def mul_multiplier(s_a: float, s_b: float, s_out: float) -> tuple:
    """MUL int8 (``mul_common.cc``): ``QM(s_a * s_b / s_out)`` applied to ``(a - zp_a) * (b - zp_b)``."""
    return quantize_multiplier(s_a * s_b / s_out)


def mean_multiplier(real: float, count: int) -> tuple:
    """TFLite's MEAN multiplier with the division by ``count`` folded in (``QuantizedMeanOrSum``):
    ``(q, shift) = QM(real)``, ``k = min(floor(log2 count), 32, 31 + shift)``,
    ``q' = (q << k) // count``, ``shift' = shift - k``."""
    q, shift = quantize_multiplier(real)
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (q << k) // count, shift - k


SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5
SOFTMAX_ACCUMULATION_INTEGER_BITS = 12


def softmax_params(input_scale: float, beta: float) -> tuple:
    """``(multiplier, left_shift, diff_min)`` of TFLite int8 softmax (``PreprocessSoftmaxScaling``).

    ``real = min(beta * s_in * 2**26, 2**31 - 1)`` (inputs in Q5.26), ``(multiplier, left_shift) =
    QM(real)``, ``diff_min = -floor(31 * 2**26 / 2**left_shift)`` (``CalculateInputRadius``).
    """
    bits = SOFTMAX_SCALED_DIFF_INTEGER_BITS
    real = min(float(np.float32(beta)) * float(input_scale) * (1 << (31 - bits)), (1 << 31) - 1.0)
    multiplier, left_shift = quantize_multiplier(real)
    diff_min = -int(np.floor(((1 << bits) - 1) * (1 << (31 - bits)) / (1 << left_shift)))
    return multiplier, left_shift, diff_min


LOGISTIC_INPUT_INTEGER_BITS = 4


def logistic_params(input_scale: float) -> tuple:
    """``(multiplier, left_shift, radius)`` of TFLite int8 LOGISTIC (``logistic_common.cc``).

    ``(mantissa, left_shift) = frexp(s_in * 2**27)``, ``multiplier = round(mantissa * 2**31)``
    (half away, no renormalization), ``radius = floor(15 * 2**27 / 2**left_shift)``.
    """
    bits = LOGISTIC_INPUT_INTEGER_BITS
    mantissa, left_shift = np.frexp(float(input_scale) * (1 << (31 - bits)))
    multiplier = int(round_half_away(mantissa * (1 << 31)))
    radius = int(np.floor(((1 << bits) - 1) * (1 << (31 - bits)) / 2.0 ** int(left_shift)))
    return multiplier, int(left_shift), radius
