"""Integer meaning of every IR op: TFLite int8 semantics, bit-exact with TFLite Micro's reference kernels.

Each kernel takes ``(node, graph, *inputs)`` with int8 activations (int32 biases, float32 for a
Quantize input) and returns the output array; the quantization of every tensor is read from the
graph. Arithmetic runs in int64 numpy arrays; wherever TFLite's int32 arithmetic could wrap, the
value is wrapped to int32 exactly as the C code does (``wrap32``).

Shared conventions (``edgeconv/quant/fixedpoint.py``; the kernels' integer parameters come from
``edgeconv/quant/integer_params.py``, which the backends use too):

- ``MBQM(x, q, shift)`` is TFLite's ``MultiplyByQuantizedMultiplier`` (double rounding: saturating
  rounding doubling high multiply, then rounding right shift, half away from zero);
- ``QM(m)`` is ``QuantizeMultiplier(m)``: ``m ≈ q * 2**(shift - 31)``, ``q`` in ``[2**30, 2**31)``;
- scales are the float32 values of the model; "f32(...)" below marks an expression TFLite
  evaluates in float32 before widening to double, everything else is double.
- a fused clamp ``(lo, hi)`` in real units becomes the integer range of
  ``edgeconv.quant.activation_range`` (TFLite's ``CalculateActivationRangeQuantized``).

Ops whose TFLite kernel requires equal input and output quantization (pools, Reshape, Pad) refuse
anything else with a GraphError naming the node, rather than inventing a meaning.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, GraphError, QuantParams
from ..quant import bilinear, lut
from ..quant.activation_range import activation_range, quantize_scalar, round_half_away
from ..quant.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot, wrap32
from ..quant.integer_params import (
    LOGISTIC_INPUT_INTEGER_BITS, SOFTMAX_ACCUMULATION_INTEGER_BITS, SOFTMAX_SCALED_DIFF_INTEGER_BITS,
    AddMultipliers, add_multipliers, logistic_params, mean_multiplier, mul_multiplier, softmax_params, tensor_quant,
    weighted_requantization,
)
from ..quant.quantizers import sign_threshold_code
from .int_fixedpoint_math import exp_on_negative_values, logistic, mul, reciprocal, rescale
from .window import conv_accumulate, pad_spatial, transpose_conv_accumulate, windows

INT8_MIN, INT8_MAX = -128, 127


def _zp(quant: QuantParams) -> int:
    return int(quant.zero_point[0])


def _f32(value) -> np.float32:
    return np.float32(value)


def _require_same_quant(node, graph: Graph, input_name: str) -> QuantParams:
    q_in, q_out = tensor_quant(graph, input_name), tensor_quant(graph, node.output)
    if not (np.array_equal(q_in.scale, q_out.scale) and np.array_equal(q_in.zero_point, q_out.zero_point)):
        raise GraphError(
            f"node {node.name} ({node.op_name}): int8 input and output must share scale and zero point "
            f"(TFLite semantics), got {q_in.scale[0]:.6g}/{_zp(q_in)} and {q_out.scale[0]:.6g}/{_zp(q_out)}")
    return q_out


# --- weighted ops ---------------------------------------------------------------------------------

def conv(node, graph, x, w, b=None):
    """CONV_2D / DEPTHWISE_CONV_2D (``ConvPerChannel``, ``DepthwiseConvPerChannel``).

    ``acc[c] = sum w[c,k] * (x[k] - zp_in) + bias[c]`` over the window and the group's channels;
    padded positions hold ``zp_in`` (they add 0). Bound: |w| <= 127, |x - zp_in| <= 255, so the sum
    stays in int32 for up to 2**16 terms (TFLite's own assumption); beyond that it wraps as int32.
    Output: ``clamp(MBQM(acc, q[c], shift[c]) + zp_out, qlo, qhi)``.
    """
    op = node.op
    zp_in = _zp(tensor_quant(graph, node.inputs[0]))
    centered = x.astype(np.int64) - zp_in
    acc = conv_accumulate(centered, w.astype(np.int64), op.stride, op.pads, op.dilation, op.groups, pad_value=0)
    if b is not None:
        acc = acc + b.astype(np.int64).reshape((1, -1) + (1,) * (acc.ndim - 2))
    return weighted_requantization(node, graph).apply(acc)


def conv_transpose(node, graph, x, w, b=None):
    """TRANSPOSE_CONV int8 (``reference_integer_ops::TransposeConv``, per-channel weights).

    ``acc[o] = sum w[o,c,ky,kx] * (x[c,iy,ix] - zp_in) + bias[o]`` over the input positions and taps
    that reach the output (``ops.ConvTranspose``); output positions no input reaches (the
    ``output_padding`` rows and columns) hold ``bias[o]``. Same int32 bound as ``conv``, with
    ``C_in * ceil(k_h / s_h) * ceil(k_w / s_w)`` terms per sum. Output: ``clamp(MBQM(acc, q[o],
    shift[o]) + zp_out, -128, 127)``, TFLite applying no fused activation here.
    """
    zp_in = _zp(tensor_quant(graph, node.inputs[0]))
    acc = transpose_conv_accumulate(x.astype(np.int64) - zp_in, w.astype(np.int64), node.op)
    if b is not None:
        acc = acc + b.astype(np.int64).reshape(1, -1, 1, 1)
    return weighted_requantization(node, graph).apply(acc)


def linear(node, graph, x, w, b=None):
    """FULLY_CONNECTED: ``acc[n,o] = sum_i w[o,i] * (x[n,i] - zp_in) + bias[o]``, then requantize.

    Same accumulator bound as ``conv`` (in_features <= 2**16 stays exact in int32).
    """
    zp_in = _zp(tensor_quant(graph, node.inputs[0]))
    acc = (x.astype(np.int64) - zp_in) @ w.astype(np.int64).T
    if b is not None:
        acc = acc + b.astype(np.int64)
    return weighted_requantization(node, graph).apply(acc)


# --- elementwise binary ops -----------------------------------------------------------------------

def add(node, graph, a, b):
    """ADD int8 (``add_common.cc``, ``integer_ops/add.h``), numpy broadcasting.

    ``out = clamp(MBQM(a' + b', q_out, shift_out) + zp_out, qlo, qhi)`` with ``a'``, ``b'`` and the
    multipliers of ``integer_params.AddMultipliers``.
    """
    qa, qb, qo = tensor_quant(graph, node.inputs[0]), tensor_quant(graph, node.inputs[1]), tensor_quant(graph, node.output)
    m = add_multipliers(float(qa.scale[0]), float(qb.scale[0]), float(qo.scale[0]))
    qlo, qhi = activation_range(node.op.clamp, qo)
    return add_codes(a, b, m, _zp(qa), _zp(qb), _zp(qo), qlo, qhi)


def add_codes(a, b, m: AddMultipliers, zp_a: int, zp_b: int, zp_out: int, qlo: int, qhi: int) -> np.ndarray:
    """The ADD of int8 codes ``a`` and ``b`` (numpy broadcasting) with multipliers ``m``."""
    a_scaled = multiply_by_quantized_multiplier((np.asarray(a, dtype=np.int64) - zp_a) << m.left_shift, *m.a)
    b_scaled = multiply_by_quantized_multiplier((np.asarray(b, dtype=np.int64) - zp_b) << m.left_shift, *m.b)
    out = multiply_by_quantized_multiplier(wrap32(a_scaled + b_scaled), *m.out) + zp_out
    return np.clip(out, qlo, qhi).astype(np.int8)


def mul_op(node, graph, a, b):
    """MUL int8 (``mul_common.cc``, ``integer_ops/mul.h``), numpy broadcasting.

    ``out = clamp(MBQM((a - zp_a) * (b - zp_b), QM(s_a * s_b / s_out)) + zp_out, qlo, qhi)``;
    the product is at most 255 * 255 in magnitude.
    """
    qa, qb, qo = tensor_quant(graph, node.inputs[0]), tensor_quant(graph, node.inputs[1]), tensor_quant(graph, node.output)
    m, s = mul_multiplier(float(qa.scale[0]), float(qb.scale[0]), float(qo.scale[0]))
    product = (a.astype(np.int64) - _zp(qa)) * (b.astype(np.int64) - _zp(qb))
    out = multiply_by_quantized_multiplier(product, m, s) + _zp(qo)
    qlo, qhi = activation_range(node.op.clamp, qo)
    return np.clip(out, qlo, qhi).astype(np.int8)


# --- pooling --------------------------------------------------------------------------------------

def _ceil_extension(shape: tuple, op) -> tuple:
    """Extra end padding that makes PyTorch's ``ceil_mode`` windows exist (never counted)."""
    r = len(op.kernel)
    extra = [0] * (2 * r)
    if op.ceil_mode:
        for i in range(r):
            size = shape[2 + i] + op.pads[i] + op.pads[r + i]
            rem = (size - op.kernel[i]) % op.stride[i]
            if rem:
                extra[r + i] = op.stride[i] - rem
    return tuple(extra)


def _divide_round_half_away(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """TFLite average rounding: ``(acc ± count/2) / count`` with C's truncating division."""
    half = count // 2
    positive = total > 0
    numerator = np.where(positive, total + half, total - half)
    quotient = np.abs(numerator) // count
    return np.where(numerator >= 0, quotient, -quotient)


def avg_pool(node, graph, x):
    """AVERAGE_POOL_2D int8 (``integer_ops/pooling.h``), input and output quantization equal.

    ``out = clamp(round(sum(q) / count), qmin, qmax)``, rounding ``(sum ± count/2) / count``
    truncated. ``count`` is the number of input positions in the window; with ``count_include_pad``
    explicit padding positions count too and hold ``zp`` (TFLite: an explicit PAD before a VALID
    pool). Windows added by ``ceil_mode`` past the padded input never count.
    """
    op = node.op
    q = _require_same_quant(node, graph, node.inputs[0])
    r = len(op.kernel)
    pad_value = _zp(q) if op.count_include_pad else 0
    xp = pad_spatial(x.astype(np.int64), tuple(op.pads), pad_value)
    mask = pad_spatial(np.ones((1, 1) + x.shape[2:], dtype=np.int64), tuple(op.pads), 1 if op.count_include_pad else 0)
    extra = _ceil_extension(x.shape, op)
    xp, mask = pad_spatial(xp, extra, 0), pad_spatial(mask, extra, 0)
    axes = tuple(range(-r, 0))
    sums = windows(xp, op.kernel, op.stride, (1,) * r).sum(axis=axes)
    counts = windows(mask, op.kernel, op.stride, (1,) * r).sum(axis=axes)
    return np.clip(_divide_round_half_away(sums, counts), q.qmin, q.qmax).astype(np.int8)


def max_pool(node, graph, x):
    """MAX_POOL_2D int8: the largest input code in the window (padding never wins), clamped."""
    op = node.op
    q = _require_same_quant(node, graph, node.inputs[0])
    r = len(op.kernel)
    below_int8 = INT8_MIN - 1
    xp = pad_spatial(x.astype(np.int64), tuple(op.pads), below_int8)
    xp = pad_spatial(xp, _ceil_extension(x.shape, op), below_int8)
    out = windows(xp, op.kernel, op.stride, op.dilation).max(axis=tuple(range(-r, 0)))
    return np.clip(out, q.qmin, q.qmax).astype(np.int8)


def global_avg_pool(node, graph, x):
    """MEAN over the spatial dims, int8 (``reduce.h`` ``QuantizedMeanOrSum``).

    With ``n`` positions and ``(q', shift') = integer_params.mean_multiplier(s_in / s_out, n)``:
    ``out = clamp(MBQM(sum(x) - zp_in * n, q', shift') + zp_out, qmin, qmax)``.
    The sum is at most ``255 * n`` in magnitude (int32 for any realistic ``n``).
    """
    q_in, q_out = tensor_quant(graph, node.inputs[0]), tensor_quant(graph, node.output)
    axes = tuple(range(2, x.ndim))
    count = int(np.prod([x.shape[a] for a in axes]))
    multiplier, shift = mean_multiplier(float(q_in.scale[0]) / float(q_out.scale[0]), count)
    total = x.astype(np.int64).sum(axis=axes, keepdims=node.op.keepdims) - _zp(q_in) * count
    out = multiply_by_quantized_multiplier(wrap32(total), multiplier, shift) + _zp(q_out)
    return np.clip(out, q_out.qmin, q_out.qmax).astype(np.int8)


# --- data movement --------------------------------------------------------------------------------

def reshape(node, graph, x):
    """RESHAPE: the codes unchanged (channels-first order), quantization shared."""
    _require_same_quant(node, graph, node.inputs[0])
    return x.reshape(x.shape[0], *node.op.shape)


def transpose(node, graph, x):
    """TRANSPOSE: the codes moved, quantization shared."""
    _require_same_quant(node, graph, node.inputs[0])
    return np.ascontiguousarray(x.transpose(node.op.perm))


def slice_axis(node, graph, x):
    """STRIDED_SLICE / SLICE / SPLIT: the codes of one range along an axis, quantization shared."""
    _require_same_quant(node, graph, node.inputs[0])
    op = node.op
    return np.ascontiguousarray(np.take(x, np.arange(op.start, op.end), axis=op.axis))


def resize_nearest(node, graph, x):
    """RESIZE_NEAREST_NEIGHBOR (no half-pixel centers, no corner alignment) at an integer factor:
    each code repeated, quantization shared."""
    _require_same_quant(node, graph, node.inputs[0])
    for axis, k in enumerate(node.op.factors(x.shape), start=2):
        x = np.repeat(x, k, axis=axis)
    return x


def resize_bilinear(node, graph, x):
    """RESIZE_BILINEAR (``ResizeBilinearInteger``) on the codes, quantization shared. With the
    integer taps ``lo``, ``hi``, ``f`` of rows (``fy``) and columns (``fx``) of
    ``quant/bilinear.py``::

        acc = x[lo_y, lo_x] * (1024 - fy) * (1024 - fx) + x[hi_y, lo_x] * fy * (1024 - fx)
            + x[lo_y, hi_x] * (1024 - fy) * fx      + x[hi_y, hi_x] * fy * fx
        out = (acc + (acc > 0 ? 2^19 : -2^19)) / 2^20    (C division: half away from zero)

    TFLite's double-rounding build (TFLite Micro's: ``TFLITE_SINGLE_ROUNDING`` unset). Bound:
    ``|x| <= 128`` and each axis' weights sum in absolute value to at most 1024 + 2 * 512, so
    ``|acc| < 128 * 1536^2 < 2^31``; the output lies between the codes it mixes (no clamp)."""
    _require_same_quant(node, graph, node.inputs[0])
    op = node.op
    try:
        ry = bilinear.int_taps(x.shape[2], op.size[0], op.align_corners)
        rx = bilinear.int_taps(x.shape[3], op.size[1], op.align_corners)
    except ValueError as e:
        raise GraphError(f"node {node.name} (ResizeBilinear): {e}") from None
    x = x.astype(np.int64)
    top, bottom = x[:, :, ry.lo, :], x[:, :, ry.hi, :]
    one = bilinear.ONE
    fy, fx = ry.frac[:, None].astype(np.int64), rx.frac.astype(np.int64)
    acc = (top[..., rx.lo] * (one - fy) * (one - fx) + bottom[..., rx.lo] * fy * (one - fx)
           + top[..., rx.hi] * (one - fy) * fx + bottom[..., rx.hi] * fy * fx)
    return (np.sign(acc) * ((np.abs(acc) + (1 << 19)) >> 20)).astype(np.int8)


def requantize_int8(x: np.ndarray, q_in: QuantParams, q_out: QuantParams) -> np.ndarray:
    """QUANTIZE int8 -> int8 (``requantize.h``): ``clamp(MBQM(x - zp_in, QM(s_in / s_out)) + zp_out)``.

    Equal scales give ``QM = (2**30, 1)``, an exact identity on ``x - zp_in``.
    """
    m, s = quantize_multiplier(float(q_in.scale[0]) / float(q_out.scale[0]))
    out = multiply_by_quantized_multiplier(x.astype(np.int64) - _zp(q_in), m, s) + _zp(q_out)
    return np.clip(out, q_out.qmin, q_out.qmax).astype(np.int8)


def concat(node, graph, *xs):
    """CONCATENATION: inputs whose quantization differs from the output's are first requantized
    with ``requantize_int8`` (in TFLite: a QUANTIZE before the concatenation)."""
    q_out = tensor_quant(graph, node.output)
    parts = []
    for name, x in zip(node.inputs, xs):
        q_in = tensor_quant(graph, name)
        same = np.array_equal(q_in.scale, q_out.scale) and np.array_equal(q_in.zero_point, q_out.zero_point)
        parts.append(x if same else requantize_int8(x, q_in, q_out))
    return np.concatenate(parts, axis=node.op.axis)


def pad(node, graph, x):
    """PAD / PADV2 int8: pad with the code of the real ``value``: ``zp + round(value / s)``
    (float32, half away from zero), i.e. ``zp`` for 0.0 and ``+1`` for 1.0 on a binary tensor."""
    q = _require_same_quant(node, graph, node.inputs[0])
    code = quantize_scalar(node.op.value, q)
    if not q.qmin <= code <= q.qmax:
        raise GraphError(f"node {node.name} (Pad): value {node.op.value} is outside the int8 range of its tensor")
    return pad_spatial(x, node.op.pads, np.int8(code))


# --- activations ----------------------------------------------------------------------------------

def softmax(node, graph, x):
    """SOFTMAX int8 -> int8 (output scale 1/256, zero point -128), TFLite's fixed-point algorithm.

    Per row (along ``axis``): ``d = x - max(x)``; where ``d >= diff_min``,
    ``e = exp_on_negative_values(SRDHM(d << left_shift, multiplier))`` in Q0.31 from a Q5.26 argument;
    ``sum = Σ e / 2**12`` (Q12.19, rounded); ``(r, bits) = reciprocal(sum)``;
    ``out = clamp(RDBPOT(SRDHM(r, e), bits + 23) - 128, -128, 127)``; elsewhere ``-128``.
    """
    q_in, q_out = tensor_quant(graph, node.inputs[0]), tensor_quant(graph, node.output)
    _require_softmax_like_output(node, q_out)
    multiplier, left_shift, diff_min = softmax_params(q_in.scale[0], node.op.beta)
    rows = np.moveaxis(x.astype(np.int64), node.op.axis, -1)
    diff = rows - rows.max(axis=-1, keepdims=True)
    kept = diff >= diff_min
    scaled = mul(wrap32(np.where(kept, diff, 0) << left_shift), multiplier)
    exps = exp_on_negative_values(scaled, SOFTMAX_SCALED_DIFF_INTEGER_BITS)
    exps_accum = rescale(exps, 0, SOFTMAX_ACCUMULATION_INTEGER_BITS)
    sum_of_exps = wrap32(np.where(kept, exps_accum, 0).sum(axis=-1, keepdims=True))
    scale, bits_over_unit = reciprocal(sum_of_exps, SOFTMAX_ACCUMULATION_INTEGER_BITS)
    exponent = bits_over_unit + 31 - 8
    out = rounding_divide_by_pot(mul(scale, exps), exponent) + INT8_MIN
    out = np.where(kept, np.clip(out, INT8_MIN, INT8_MAX), INT8_MIN)
    return np.moveaxis(out, -1, node.op.axis).astype(np.int8)


def _require_softmax_like_output(node, q_out: QuantParams) -> None:
    if float(q_out.scale[0]) != 1.0 / 256 or _zp(q_out) != INT8_MIN:
        raise GraphError(f"node {node.name} ({node.op_name}): int8 output must have scale 1/256 and zero point -128")


def sigmoid(node, graph, x):
    """LOGISTIC int8 -> int8 (output scale 1/256, zero point -128).

    ``d = x - zp_in``; ``d <= -radius`` gives -128, ``d >= radius`` 127; otherwise
    ``out = clamp(RDBPOT(logistic_Q0.31(MBQM(d, multiplier, left_shift) as Q4.27), 23) - 128)``.
    """
    q_in, q_out = tensor_quant(graph, node.inputs[0]), tensor_quant(graph, node.output)
    _require_softmax_like_output(node, q_out)
    multiplier, left_shift, radius = logistic_params(q_in.scale[0])
    d = x.astype(np.int64) - _zp(q_in)
    inside = (d > -radius) & (d < radius)
    q4 = multiply_by_quantized_multiplier(np.where(inside, d, 0), multiplier, left_shift)
    out = np.clip(rounding_divide_by_pot(logistic(q4, LOGISTIC_INPUT_INTEGER_BITS), 31 - 8) + INT8_MIN, INT8_MIN, INT8_MAX)
    out = np.where(d <= -radius, INT8_MIN, np.where(d >= radius, INT8_MAX, out))
    return out.astype(np.int8)


def _int16_multiplier(real: float) -> tuple:
    """``QM(real)`` then ``DownScaleInt32ToInt16Multiplier``: ``(q16, exponent)``."""
    q32, exponent = quantize_multiplier(real)
    q16 = 32767 if q32 >= (1 << 31) - 1 - (1 << 15) else (q32 + (1 << 15)) >> 16
    return q16, exponent


def _srdhm16(a, b) -> np.ndarray:
    """16-bit saturating rounding doubling high multiply (``(a*b ± 2**14) / 2**15`` truncated)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    total = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    high = np.where(total >= 0, total >> 15, -((-total) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, high)


def _sdhm16(a, b) -> np.ndarray:
    """16-bit saturating doubling high multiply, truncating toward zero (``SQDMULH``)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    high = np.where(ab >= 0, ab >> 15, -((-ab) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, high)


def _saturating_left_shift16(x, amount: int) -> np.ndarray:
    return np.clip(np.asarray(x, dtype=np.int64) << amount, -32768, 32767)


def hardswish(node, graph, x):
    """HARD_SWISH int8 (``reference_ops::HardSwish``, 16-bit fixed point).

    ``hires = (x - zp_in) * 128`` (input scale s_in/128); ``pre = SRDHM16(hires, q_out16)`` with
    ``(q_out16, e_out)`` from ``QM(f32(f32(s_in/128) / s_out))``; ``relu_ish`` = hires rescaled so
    that 3.0 maps to 32768 (``QM(f32(f32(s_in/128) / f32(3/32768)))``, saturating), mapped to
    ``[0, 1]`` as ``(v + 32768) >> 1``; ``out = clamp(RDBPOT(SDHM16(relu_ish, pre), -e_out) + zp_out)``.
    """
    q_in, q_out = tensor_quant(graph, node.inputs[0]), tensor_quant(graph, node.output)
    hires_scale = _f32(1.0 / 128.0) * _f32(q_in.scale[0])
    out_q16, out_exp = _int16_multiplier(float(_f32(hires_scale / _f32(q_out.scale[0]))))
    if out_exp > 0:
        raise GraphError(f"node {node.name} (Hardswish): output scale too small for TFLite's int8 hard-swish")
    relu_q16, relu_exp = _int16_multiplier(float(_f32(hires_scale / (_f32(3.0) / _f32(32768.0)))))
    hires = (x.astype(np.int64) - _zp(q_in)) * 128
    preshift = _srdhm16(hires, out_q16)
    relu_ish = hires
    if relu_exp > 0:
        relu_ish = _saturating_left_shift16(relu_ish, relu_exp - 1)
    relu_ish = _srdhm16(relu_ish, relu_q16)
    if relu_exp > 0:
        relu_ish = _saturating_left_shift16(relu_ish, 1)
    if relu_exp < 0:
        relu_ish = rounding_divide_by_pot(relu_ish, -relu_exp)
    relu_ish = (relu_ish + (1 << 15)) >> 1
    out = rounding_divide_by_pot(_sdhm16(relu_ish, preshift), -out_exp) + _zp(q_out)
    return np.clip(out, INT8_MIN, INT8_MAX).astype(np.int8)


def leaky_relu(node, graph, x):
    """LEAKY_RELU int8 (``reference_ops::QuantizeLeakyRelu``).

    ``d = x - zp_in``; ``d >= 0``: ``MBQM(d, QM(f32(s_in / s_out)))``; ``d < 0``:
    ``MBQM(d, QM(f32(s_in * alpha / s_out)))``, where a negative alpha gives a negative Q31
    multiplier (``frexp`` keeps the sign), used as is; ``+ zp_out``, clamped to int8.
    """
    q_in, q_out = tensor_quant(graph, node.inputs[0]), tensor_quant(graph, node.output)
    s_in, s_out = _f32(q_in.scale[0]), _f32(q_out.scale[0])
    alpha_real = float(s_in * _f32(node.op.alpha) / s_out)
    m_alpha, sh_alpha = quantize_multiplier(abs(alpha_real))
    if alpha_real < 0:
        m_alpha = -m_alpha
    m_id, sh_id = quantize_multiplier(float(s_in / s_out))
    d = x.astype(np.int64) - _zp(q_in)
    scaled = np.where(d >= 0, multiply_by_quantized_multiplier(d, m_id, sh_id),
                      multiply_by_quantized_multiplier(d, m_alpha, sh_alpha))
    return np.clip(scaled + _zp(q_out), INT8_MIN, INT8_MAX).astype(np.int8)


def clip(node, graph, x):
    """RELU / RELU6 / RELU_N1_TO_1 / clamp int8 (``ReluQuantized``).

    ``out = clamp(MBQM(x - zp_in, QM(f32(s_in / s_out))) + zp_out, qlo, qhi)`` with ``(qlo, qhi)``
    the activation range of ``(lo, hi)`` on the output. Equal quantization makes the multiplier an
    exact identity, so the op is a pure clamp (TFLite's RELU6 kernel).
    """
    q_in, q_out = tensor_quant(graph, node.inputs[0]), tensor_quant(graph, node.output)
    m, s = quantize_multiplier(float(_f32(q_in.scale[0]) / _f32(q_out.scale[0])))
    out = multiply_by_quantized_multiplier(x.astype(np.int64) - _zp(q_in), m, s) + _zp(q_out)
    qlo, qhi = activation_range((node.op.lo, node.op.hi), q_out)
    return np.clip(out, qlo, qhi).astype(np.int8)


def sign(node, graph, x):
    """XNOR binarization: ``+1`` where the real value is ``>= threshold``, else ``-1``:
    ``x >= zp_in + sign_threshold_code(...)`` on the raw values."""
    q = tensor_quant(graph, node.inputs[0])
    first = _zp(q) + sign_threshold_code(node.op.threshold, float(q.scale[0]))
    return np.where(x.astype(np.int64) >= first, 1, -1).astype(np.int8)


def _lut_kernel(float_fn):
    """A kernel applying the ``edgeconv.quant.lut`` table of ``float_fn`` (documented there)."""
    def kernel(node, graph, x):
        table = lut.build_lut(lambda v: float_fn(node.op, v), tensor_quant(graph, node.inputs[0]),
                              tensor_quant(graph, node.output))
        return lut.apply_lut(table, x)
    kernel.__doc__ = f"int8 lookup table of the float {float_fn.__name__} (see edgeconv.quant.lut)."
    return kernel


# --- boundaries -----------------------------------------------------------------------------------

def quantize(node, graph, x):
    """QUANTIZE. float32 -> int8 (``AffineQuantize``): ``clamp(zp + round(f32(x / s)), qmin, qmax)``,
    the division in float32, round half away from zero; int8 -> int8: ``requantize_int8``.
    The clamp is the tensor's ``[qmin, qmax]`` (all of int8 for an ordinary tensor). Values whose
    quotient leaves the int32 range (and ±inf) saturate to ``qmin``/``qmax``; NaN gives ``qmin``
    (TFLite leaves both undefined: a C float -> int conversion)."""
    q_out = tensor_quant(graph, node.output)
    if x.dtype.kind == "f":
        ratio = x.astype(np.float32) / _f32(q_out.scale[0])
        nan = np.isnan(ratio)
        bounded = np.clip(np.where(nan, 0.0, ratio).astype(np.float64), -2.0**31, 2.0**31 - 1)
        out = np.where(nan, q_out.qmin, round_half_away(bounded) + _zp(q_out))
        return np.clip(out, q_out.qmin, q_out.qmax).astype(np.int8)
    return requantize_int8(x, tensor_quant(graph, node.inputs[0]), q_out)


def dequantize(node, graph, x):
    """DEQUANTIZE int8 -> float32: ``f32(double(s) * (x - zp))``."""
    q_in = tensor_quant(graph, node.inputs[0])
    return (q_in.scale[0] * (x.astype(np.int64) - _zp(q_in)).astype(np.float64)).astype(np.float32)


# The integer kernel of each op, by op name (the executor's table).
INT_KERNELS = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "Linear": linear,
    "Add": add,
    "Mul": mul_op,
    "AvgPool": avg_pool,
    "MaxPool": max_pool,
    "GlobalAvgPool": global_avg_pool,
    "Reshape": reshape,
    "Transpose": transpose,
    "Slice": slice_axis,
    "ResizeNearest": resize_nearest,
    "ResizeBilinear": resize_bilinear,
    "Concat": concat,
    "Pad": pad,
    "Softmax": softmax,
    "Sigmoid": sigmoid,
    "Hardswish": hardswish,
    "LeakyRelu": leaky_relu,
    "Clip": clip,
    "Sign": sign,
    "Hardsigmoid": _lut_kernel(lut.hardsigmoid_math),
    "SiLU": _lut_kernel(lut.silu_math),
    "Gelu": _lut_kernel(lut.gelu_math),
    "Quantize": quantize,
    "Dequantize": dequantize,
}

# IR ops without an integer kernel, and why (``tests/unit/test_op_coverage.py`` reads this).
NOT_COVERED = {
    "BatchNorm": "float only: folded into the convolution before quantization (passes/fold_batchnorm.py)",
}
