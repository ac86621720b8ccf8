"""Per-layer candidates: which kernels of the registry (``edgeconv.kernels.registry``) the selector
offers a Conv or Linear layer at a precision, and what a layer stores and moves at that precision.
"""

from __future__ import annotations

from typing import Optional

from ..kernels.geometry import LayerGeometry
from ..kernels.registry import Kernel, costed_kernels
from ..quant.precision import Precision


# The im2col kernels and the 1x1 kernel of the same type: on a pointwise layer the 1x1 kernel runs
# the same GEMM without the window walk, and the im2col figures are fitted on windowed layers
# (their per-MAC rate, from K of 144 and more, does not hold for a pointwise layer's K).
_POINTWISE_KERNEL = {"ec_s8_conv2d_im2col": "ec_s8_conv2d_1x1", "ec_f32_conv2d_im2col": "ec_f32_conv2d_1x1"}


def variants_for(geo: LayerGeometry, precision: Precision) -> list:
    """Every kernel that serves a layer of geometry ``geo`` at ``precision``, except, for a
    depthwise layer, those whose costs hold for dense layers only (``KernelCost.dense_only``),
    and for a pointwise layer an im2col kernel whose 1x1 kernel serves it (``_POINTWISE_KERNEL``)."""
    kernels = [k for k in costed_kernels()
               if k.serves(precision, geo) and not (geo.is_depthwise and k.cost.dense_only)]
    if geo.is_pointwise:
        served = {k.name for k in kernels}
        kernels = [k for k in kernels if _POINTWISE_KERNEL.get(k.name) not in served]
    return kernels


def popcount_passes(precision: Precision, kernel: Kernel) -> int:
    """Binary-popcount passes per MAC: K*M bit-plane pairs for bit-serial, 1 for XNOR, else 1."""
    if kernel.name == "ec_s8_conv2d_bitserial":
        return precision.weight_bits * precision.act_bits
    return 1


def weight_bytes(geo: LayerGeometry, precision: Precision, kernel: Kernel) -> int:
    """Bytes of constant data the layer stores: weights as the kernel packs them, bias, multipliers.

    fp32: 4-byte weights and bias. int8 kernels: 1-byte weights, int32 bias, and a per-channel
    requantization multiplier and shift (8 bytes). XNOR: one bit per weight (rows padded to bytes)
    plus bias and multipliers. Bit-serial: K bit planes of the weights.
    """
    if not precision.quantized:
        return 4 * (geo.params + (geo.c_out if geo.has_bias else 0))
    per_channel = 4 * geo.has_bias + 8
    if kernel.cost.peak == "binary":
        planes = 1 if precision.kind == "xnor" else precision.weight_bits
        return geo.c_out * (planes * -(-geo.reduction // 8) + per_channel)
    return geo.params + geo.c_out * per_channel


def activation_bytes(precision: Optional[Precision]) -> int:
    """Bytes per activation element: float32 for fp32 layers, int8 for every quantized one."""
    return 4 if precision is not None and not precision.quantized else 1
