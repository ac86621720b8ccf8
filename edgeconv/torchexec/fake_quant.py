"""Fake quantization of activations: real -> integer grid -> real, with straight-through gradients.

For a tensor with params ``(s, zp, qmin, qmax)`` and a fused clamp ``(lo, hi)`` in real units:

    qlo = max(qmin, zp + round(lo / s))      (qmin when lo is None; likewise qhi with min;
                                             computed in float32 as TFLite does)
    q   = clip(round(y / s) + zp, qlo, qhi)  (round half away from zero)
    out = s * (q - zp)

which is what the integer kernels compute after requantization (TFLite's
``CalculateActivationRangeQuantized``). Backward: the rounding is the identity and the clip passes
gradients only inside ``[qlo, qhi]`` (the usual QAT straight-through estimator).

Conv and Linear requantize ``acc * m`` (``m = s_in*s_w/s_out``) with TFLite's two roundings:
``MultiplyByQuantizedMultiplier`` first rounds ``acc * m * 2^r`` to an integer (the Q31 high
multiply), then divides by ``2^r`` rounding half away (``r = max(0, -exponent of m)``).
``fake_requantize`` does the same on ``y / s_out = acc * m``, with ``m`` of the layer as stored:
a low-bit layer stored with weight steps (``quant/single_rounding.py``) has a small ``m`` and a
large ``r``, and rounds as once.

An int8 AvgPool rounds its window's raw code sum as TFLite's AVERAGE_POOL_2D does
(``fake_average_pool``, exact at the ties of an even window).

Conv and Linear use the Q31-rounded ``m`` the integer kernels use. Remaining differences from
the integer reference (values, not structure): TFLite's Add, Mul, Softmax, Logistic and Hardswish
use fixed-point approximations of their own, and an int8 -> int8 Quantize is rounded once here
(as the unit convolution that ships it computes, not TFLite's QUANTIZE); float accumulation may
land on the other side of a rounding tie. Each differs by about one output step on few elements.
"""

from __future__ import annotations

import torch

from ..ir import QuantParams
from ..quant.activation_range import activation_range
from ..quant.quantizers import round_ste
from . import float_ops


def fake_quantize(y: torch.Tensor, params: QuantParams, clamp: tuple = (None, None),
                  float32_quotient: bool = False) -> torch.Tensor:
    """``float32_quotient``: divide ``y / s`` in float32, as TFLite's float -> int8 QUANTIZE does (a
    float64 run then rounds every quotient as the integer reference does)."""
    s, zp = float(params.scale[0]), int(params.zero_point[0])
    qlo, qhi = activation_range(clamp, params)
    quotient = (y.to(torch.float32) / torch.tensor(s, dtype=torch.float32)).to(y.dtype) if float32_quotient else y / s
    q = torch.clamp(round_ste(quotient) + zp, qlo, qhi)
    return (q - zp) * s


def fake_requantize(y: torch.Tensor, params: QuantParams, clamp: tuple, multiplier: torch.Tensor,
                    channel_axis: int = 1) -> torch.Tensor:
    """``fake_quantize`` of a Conv/Linear output with TFLite's double rounding (see above).

    ``multiplier``: the real requantization multipliers ``s_in*s_w[c]/s_out``, one per channel.
    """
    s, zp = float(params.scale[0]), int(params.zero_point[0])
    qlo, qhi = activation_range(clamp, params)
    _, exponent = torch.frexp(multiplier.detach().to(torch.float64))
    step = torch.exp2(torch.clamp(-exponent, min=0).to(y.dtype))
    shape = [1] * y.dim()
    shape[channel_axis] = -1
    step = step.reshape(shape)
    z = round_ste(y / s * step) / step
    q = torch.clamp(round_ste(z) + zp, qlo, qhi)
    return (q - zp) * s


def fake_average_pool(op, x: torch.Tensor, mean: torch.Tensor, params: QuantParams) -> torch.Tensor:
    """AVERAGE_POOL_2D int8 of real inputs ``x`` on the grid ``params`` (shared by input and output),
    ``mean`` their real window means (``float_ops.avg_pool``):
    TFLite divides the sum ``acc`` of the window's raw codes (zero points included, padding holding
    ``zp``) by the count ``n`` rounding half away from zero, ``(acc +- n // 2) / n`` truncated, which
    at a tie (even ``n``) differs from rounding the real mean. Computed exactly on integers (the
    float sums of integer codes are exact to far below a half); the gradient is the real mean's."""
    s, zp = float(params.scale[0]), int(params.zero_point[0])
    with torch.no_grad():
        sums, counts = float_ops.avg_pool_terms(op, torch.round(x.detach().to(torch.float64) / s))
        n = torch.round(counts).to(torch.int64)
        acc = torch.round(sums).to(torch.int64) + zp * n
        q = torch.where(acc > 0, torch.div(acc + n // 2, n, rounding_mode="trunc"),
                        torch.div(acc - n // 2, n, rounding_mode="trunc"))
        real = ((torch.clamp(q, params.qmin, params.qmax) - zp) * s).to(mean.dtype)
    return mean + (real - mean).detach()


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """``+1`` where ``x >= 0`` else ``-1``; backward passes gradients where ``|x| <= 1``."""
    hard = torch.where(x >= 0, 1.0, -1.0).to(x.dtype)
    soft = torch.clamp(x, -1.0, 1.0)
    return soft + (hard - soft).detach()
