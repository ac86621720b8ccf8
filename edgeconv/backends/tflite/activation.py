"""Fused activations and clamps.

An IR op's ``clamp = (lo, hi)`` (real units) and, for int8 outputs, the tensor's occupied range
``[qmin, qmax]`` (DoReFa activations use fewer than 256 levels) give the integer range the
requantized output is clamped to (the IR convention):

    qlo = max(qmin, zp + round_half_away(f32(lo) / f32(s)))   (qmin when lo is None)
    qhi = min(qmax, zp + round_half_away(f32(hi) / f32(s)))   (qmax when hi is None)

(``edgeconv.quant.activation_range``). TFLite kernels clamp to the range of their fused
activation instead (``CalculateActivationRangeQuantized``: the same formula with the int8 limits
-128/127). When one of NONE, RELU, RELU6, RELU_N1_TO_1 gives exactly
``[qlo, qhi]`` it is fused; otherwise the op is written without activation and followed by
MAXIMUM/MINIMUM against constants holding ``qlo``/``qhi`` (exact: a clamp of int8 values).
Float ops fuse (0, None), (0, 6), (-1, 1) and clamp any other range the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from tflite.ActivationFunctionType import ActivationFunctionType as Act
from tflite.BuiltinOperator import BuiltinOperator as B

from ...ir import Node, QuantParams, Tensor
from ...quant.activation_range import activation_range
from .lowering import Lowering

FUSED_RANGES = {
    Act.NONE: (None, None),
    Act.RELU: (0.0, None),
    Act.RELU6: (0.0, 6.0),
    Act.RELU_N1_TO_1: (-1.0, 1.0),
}

INT8_MIN, INT8_MAX = -128, 127


def tflite_int_range(act: int, out: Tensor) -> tuple:
    """The range TFLite clamps an int8 output with fused activation ``act`` to (int8 limits)."""
    int8 = QuantParams(out.quant.scale, out.quant.zero_point)
    return activation_range(FUSED_RANGES[act], int8)


@dataclass(frozen=True)
class ActivationPlan:
    """A fused activation plus the explicit clamp bounds (raw tensor values) that remain."""

    fused: int
    lower: Optional[float] = None
    upper: Optional[float] = None


def plan(out: Tensor, clamp: tuple) -> ActivationPlan:
    clamp = tuple(None if v is None else float(v) for v in clamp)
    if out.dtype == "int8":
        target = activation_range(clamp, out.quant)
        for act in FUSED_RANGES:
            if tflite_int_range(act, out) == target:
                return ActivationPlan(act)
        qlo, qhi = target
        return ActivationPlan(Act.NONE, None if qlo == INT8_MIN else qlo, None if qhi == INT8_MAX else qhi)
    for act, fused_range in FUSED_RANGES.items():
        if fused_range == clamp:
            return ActivationPlan(act)
    return ActivationPlan(Act.NONE, clamp[0], clamp[1])


def emit(lower: Lowering, node: Node, clamp: tuple, write: Callable[[int, int], None]) -> None:
    """Emit ``write(dst, fused_activation)`` for ``node``, then any explicit clamp it needs."""
    act = plan(lower.ir(node.output), clamp)
    out = lower.output(node)
    if act.lower is None and act.upper is None:
        write(out, act.fused)
        return
    unclamped = lower.like(out, node.output + "_unclamped")
    write(unclamped, act.fused)
    emit_clamp(lower, node, unclamped, act.lower, act.upper)


def emit_clamp(lower: Lowering, node: Node, src: int, low, high) -> None:
    """``node``'s output = MINIMUM(MAXIMUM(src, low), high), skipping absent bounds.

    ``src`` has the output's quantization, so the bounds are raw values of that tensor.
    """
    out = lower.output(node)
    steps = [(builtin, value) for builtin, value in ((B.MAXIMUM, low), (B.MINIMUM, high)) if value is not None]
    if not steps:  # nothing to clamp: a same-shape RESHAPE copies the values
        lower.reshape(src, lower.shape_of(out), out)
        return
    dtype = np.dtype(lower.dtype_of(out))
    current = src
    for i, (builtin, value) in enumerate(steps):
        dst = out if i == len(steps) - 1 else lower.like(out, node.output + "_clamped_low")
        bound = lower.constant(node.output + "_bound", np.array([value], dtype=dtype), lower.quant_of(out))
        lower.op(builtin, [current, bound], [dst])
        current = dst
