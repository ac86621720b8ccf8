"""Elementwise ops: Add, Mul, Clip and activations, Sign (XNOR binarization), BatchNorm (float).

int8 ADD/MUL follow TFLite's rescaling (each operand to a common scale with a 20-bit left shift
for ADD, product requantized for MUL); their fused clamp is handled by ``activation``.

Sign (int8): ``x >= threshold`` in real units is ``q >= zero_point + ceil(threshold / scale)`` on
the raw values (``quant.quantizers.sign_threshold_code``), so it is written
``CAST(x) -> int32`` (raw codes), ``GREATER_EQUAL(codes, that code)`` -> bool, then
``SELECT_V2(cond, +1, -1)`` between int8 constants with the output's quantization (scale 1, zp 0):
exact, builtin ops only.
"""

from __future__ import annotations

import math

import numpy as np
from tflite.BuiltinOperator import BuiltinOperator as B
from tflite.TensorType import TensorType

from ...errors import UserError
from ...ir import Node, ops
from ...quant.activation_range import activation_range, quantize_scalar
from ...quant.quantizers import sign_threshold_code
from ...quant.lut import build_lut, gelu_math, hardsigmoid_math, silu_math
from . import activation
from .layout import broadcast_constant
from .lowering import Lowering, tfl_quant
from .options import options


def operand(lower: Lowering, name: str, rank: int) -> int:
    """An input of a broadcasting op: an activation, or a constant laid out channels-last."""
    t = lower.ir(name)
    if not t.is_constant:
        return lower.activation(name)
    return lower.constant(name, broadcast_constant(t.data, rank), tfl_quant(t.quant))


def _binary(builtin: int, table: str):
    def write_binary(lower: Lowering, node: Node) -> None:
        rank = len(lower.ir(node.output).shape)
        a, b = (operand(lower, name, rank) for name in node.inputs)

        def write(dst: int, fused: int) -> None:
            lower.op(builtin, [a, b], [dst], options(table, FusedActivationFunction=fused))

        activation.emit(lower, node, node.op.clamp, write)
    return write_binary


write_add = _binary(B.ADD, "AddOptions")
write_mul = _binary(B.MUL, "MulOptions")


RELU_OPS = {activation.Act.RELU: B.RELU, activation.Act.RELU6: B.RELU6}


def write_clip(lower: Lowering, node: Node) -> None:
    """Clip. int8 with one quantization on both sides: MAXIMUM/MINIMUM against the integer bounds
    (exact). Otherwise RELU / RELU6 / RELU_N1_TO_1 (int8: ``ReluQuantized``, which rescales) when
    the range is theirs, else explicit float MAXIMUM/MINIMUM (TFLite Micro has no RELU_N1_TO_1)."""
    op: ops.Clip = node.op
    src = lower.activation(node.input("x"))
    x, out = lower.ir(node.input("x")), lower.ir(node.output)
    if out.dtype == "int8" and x.quant == out.quant:
        qlo, qhi = activation_range((op.lo, op.hi), out.quant)
        activation.emit_clamp(lower, node, src, None if qlo == activation.INT8_MIN else qlo,
                              None if qhi == activation.INT8_MAX else qhi)
        return
    plan = activation.plan(out, (op.lo, op.hi))
    builtin = RELU_OPS.get(plan.fused)
    if builtin is not None and plan.lower is None and plan.upper is None:
        lower.op(builtin, [src], [lower.output(node)])
    elif out.dtype == "float32":
        activation.emit_clamp(lower, node, src, plan.lower, plan.upper)
    else:
        raise UserError(f"node {node.name}: an int8 Clip to ({op.lo}, {op.hi}) that changes the "
                        "quantization has no exact TFLite builtin")


def _unary(builtin: int, table: str | None = None, **fields):
    def write_unary(lower: Lowering, node: Node) -> None:
        opts = options(table, **{k: getattr(node.op, v) for k, v in fields.items()}) if table else None
        lower.op(builtin, [lower.activation(node.input("x"))], [lower.output(node)], opts)
    return write_unary


write_sigmoid = _unary(B.LOGISTIC)
write_hardswish = _unary(B.HARD_SWISH, "HardSwishOptions")
write_leaky_relu = _unary(B.LEAKY_RELU, "LeakyReluOptions", Alpha="alpha")


def _float_only(node: Node, lower: Lowering) -> None:
    if lower.ir(node.output).dtype != "float32":
        raise UserError(f"node {node.name}: int8 {node.op_name} has no exact TFLite lowering; keep this layer fp32")


def _scalar(lower: Lowering, name: str, value: float) -> int:
    return lower.constant(name, np.array([value], dtype=np.float32))


def write_lookup_table(lower: Lowering, node: Node, float_fn) -> None:
    """int8 activation through the 256-entry table of ``edgeconv.quant.lut`` (exact on every
    runtime): ``index = CAST(x, int32) + 128`` then ``GATHER(table, index)``; the table constant
    carries the output's quantization."""
    x, out = lower.ir(node.input("x")), lower.ir(node.output)
    table = build_lut(lambda v: float_fn(node.op, v), x.quant, out.quant)
    src, dst = lower.activation(node.input("x")), lower.output(node)
    wide = lower.temporary(node.output + "_index", lower.shape_of(src), "int32", None)
    lower.op(B.CAST, [src], [wide], options("CastOptions", InDataType=TensorType.INT8, OutDataType=TensorType.INT32),
             version=1)
    index = lower.temporary(node.output + "_index_offset", lower.shape_of(src), "int32", None)
    lower.op(B.ADD, [wide, lower.int32_vector(node.name + "_offset", [128])], [index],
             options("AddOptions", FusedActivationFunction=activation.Act.NONE), version=1)
    table_tensor = lower.constant(node.name + "_table", table, lower.quant_of(dst))
    lower.op(B.GATHER, [table_tensor, index], [dst], options("GatherOptions", Axis=0, BatchDims=0), version=2)


def write_hardsigmoid(lower: Lowering, node: Node) -> None:
    """Float: ``relu6(x + 3) * (1/6)`` as ADD (fused RELU6) then MUL; int8: lookup table."""
    if lower.ir(node.output).dtype == "int8":
        write_lookup_table(lower, node, hardsigmoid_math)
        return
    src, out = lower.activation(node.input("x")), lower.output(node)
    shifted = lower.like(out, node.output + "_plus3")
    lower.op(B.ADD, [src, _scalar(lower, "three", 3.0)], [shifted],
             options("AddOptions", FusedActivationFunction=activation.Act.RELU6))
    lower.op(B.MUL, [shifted, _scalar(lower, "one_sixth", 1.0 / 6.0)], [out],
             options("MulOptions", FusedActivationFunction=activation.Act.NONE))


def write_silu(lower: Lowering, node: Node) -> None:
    """Float: ``x * logistic(x)``; int8: lookup table."""
    if lower.ir(node.output).dtype == "int8":
        write_lookup_table(lower, node, silu_math)
        return
    src, out = lower.activation(node.input("x")), lower.output(node)
    gate = lower.like(out, node.output + "_sigmoid")
    lower.op(B.LOGISTIC, [src], [gate])
    lower.op(B.MUL, [src, gate], [out], options("MulOptions", FusedActivationFunction=activation.Act.NONE))


def write_batch_norm(lower: Lowering, node: Node) -> None:
    """Float inference BN as ``x * k + c`` with ``k = gamma / sqrt(var + eps)``, ``c = beta - mean * k``."""
    _float_only(node, lower)
    gamma, beta, mean, var = (lower.ir(node.input(s)).data.astype(np.float64) for s in ("gamma", "beta", "mean", "var"))
    k = gamma / np.sqrt(var + node.op.eps)
    c = beta - mean * k
    rank = len(lower.ir(node.output).shape)
    per_channel = (1, -1) + (1,) * (rank - 2)
    src, out = lower.activation(node.input("x")), lower.output(node)
    scaled = lower.like(out, node.output + "_scaled")
    lower.op(B.MUL, [src, lower.constant(node.name + "_k", broadcast_constant(k.reshape(per_channel).astype(np.float32), rank))],
             [scaled], options("MulOptions", FusedActivationFunction=activation.Act.NONE))
    lower.op(B.ADD, [scaled, lower.constant(node.name + "_c", broadcast_constant(c.reshape(per_channel).astype(np.float32), rank))],
             [out], options("AddOptions", FusedActivationFunction=activation.Act.NONE))


def write_sign(lower: Lowering, node: Node) -> None:
    src, out = lower.activation(node.input("x")), lower.output(node)
    x, y = lower.ir(node.input("x")), lower.ir(node.output)
    if x.quant is None:
        compared = src
        threshold = lower.constant(node.name + "_threshold", np.array([node.op.threshold], dtype=np.float32))
    else:
        # int8 comparisons rescale both operands by the input scale (and TFLite Micro refuses
        # scales >= 1); the raw codes widened to int32 compare exactly.
        compared = lower.temporary(node.output + "_codes", lower.shape_of(src), "int32", None)
        lower.op(B.CAST, [src], [compared],
                 options("CastOptions", InDataType=TensorType.INT8, OutDataType=TensorType.INT32), version=1)
        first = int(x.quant.zero_point[0]) + sign_threshold_code(node.op.threshold, float(x.quant.scale[0]))
        threshold = lower.int32_vector(node.name + "_threshold", [first])
    cond = lower.temporary(node.output + "_nonnegative", lower.shape_of(src), "bool", None)
    lower.op(B.GREATER_EQUAL, [compared, threshold], [cond], version=1)
    one, minus_one = (1.0, -1.0) if y.quant is None else (quantize_scalar(1.0, y.quant), quantize_scalar(-1.0, y.quant))
    plus = lower.constant(node.name + "_plus_one", np.array([one], dtype=np.dtype(y.dtype)), lower.quant_of(out))
    minus = lower.constant(node.name + "_minus_one", np.array([minus_one], dtype=np.dtype(y.dtype)), lower.quant_of(out))
    lower.op(B.SELECT_V2, [cond, plus, minus], [out], version=1)


# erf(u) for u >= 0 as 1 - t * (A1 + t * (A2 + t * (A3 + t * (A4 + t * A5)))) * exp(-u * u) with
# t = 1 / (1 + P * u): absolute error below 1.5e-7 (Abramowitz and Stegun, formula 7.1.26).
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _write_float_gelu(lower: Lowering, node: Node) -> None:
    """Float GELU from builtins TFLite Micro runs (it has no GELU kernel), in float32:

    - tanh form: ``(x * (1 + tanh((x + (x * x * x) * 0.044715) * sqrt(2 / pi)))) * 0.5``;
    - erf form: ``(x + |x| * erf(|x| * (1 / sqrt(2)))) * 0.5`` (``x * erf(x) = |x| * erf(|x|)``,
      erf being odd), erf as above: within 1e-6 of GELU up to |x| = 10, inside the float tolerance.
    """
    src, dst = lower.activation(node.input("x")), lower.output(node)

    def step(builtin: int, inputs: list, table: str | None = None, out: int | None = None) -> int:
        out = lower.like(src, node.output + "_gelu") if out is None else out
        opts = options(table, FusedActivationFunction=activation.Act.NONE) if table else None
        lower.op(builtin, inputs, [out], opts)
        return out

    def mul(a: int, b: int, out: int | None = None) -> int:
        return step(B.MUL, [a, b], "MulOptions", out)

    def add(a: int, b: int) -> int:
        return step(B.ADD, [a, b], "AddOptions")

    def const(value: float) -> int:
        return _scalar(lower, "gelu_constant", value)

    if node.op.approximate == "tanh":
        inner = mul(add(src, mul(mul(mul(src, src), src), const(0.044715))), const(math.sqrt(2.0 / math.pi)))
        mul(mul(src, add(step(B.TANH, [inner]), const(1.0))), const(0.5), dst)
        return
    magnitude = step(B.ABS, [src])
    u = mul(magnitude, const(1.0 / math.sqrt(2.0)))
    t = step(B.DIV, [const(1.0), add(mul(u, const(_ERF_P)), const(1.0))], "DivOptions")
    poly = const(_ERF_A[-1])
    for a in reversed(_ERF_A[:-1]):
        poly = add(mul(poly, t), const(a))
    tail = mul(mul(poly, t), step(B.EXP, [mul(mul(u, u), const(-1.0))]))
    erf = add(mul(tail, const(-1.0)), const(1.0))
    mul(add(src, mul(magnitude, erf)), const(0.5), dst)


def write_gelu(lower: Lowering, node: Node) -> None:
    """Float: GELU's formula from builtins (``_write_float_gelu``); int8: lookup table."""
    if lower.ir(node.output).dtype == "int8":
        write_lookup_table(lower, node, gelu_math)
        return
    _write_float_gelu(lower, node)
