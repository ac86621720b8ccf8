"""Integer forms on which TFLite's requantization rounds as once-rounding runtimes do.

TFLite (and so TFLite Micro, the C runtime and the reference executor) requantizes an int32
accumulator with ``MultiplyByQuantizedMultiplier``: for a real multiplier ``M < 1/2`` it first
rounds ``acc * M`` to a multiple of ``2^-e`` (``e = -shift``, the saturating rounding doubling high
multiply) and then to an integer (the rounding right shift). XNNPACK (LiteRT's default) and ONNX
Runtime round ``acc * M`` once, in float32. The two differ on every accumulator whose exact product
lies within ``2^-(e+1)`` below a half-integer that the first rounding lifts onto it. The
accumulators of a low-bit layer take few distinct values (a multiple of a few weight levels), so at
small ``e`` that is not rare: on a w2a2 ResNet one requantized value in eight or twenty lands one
level apart, a third of the range of a 2-bit activation, and after a few layers top-1 moves.

The integer form of a layer is not unique: a channel's weights ``q`` with scale ``s`` may be stored
as ``n * q`` with scale ``s / n`` for any integer ``n >= 1`` with ``n * max|q| <= 127`` (its int32
bias becomes ``n * b``). The real weights and bias are the same (up to the float32 rounding of
``s / n``), the accumulator becomes ``n * acc`` and the multiplier ``M / n``, so ``e`` grows by
``log2 n``, and which accumulators double-round changes with ``n``. ``with_single_rounding`` picks,
per output channel, the ``n`` for which TFLite's result equals the once-rounded ``acc * M`` on
every accumulator the channel can produce inside its output range, or on most of them when no
``n`` gives all. Low-bit layers (DoReFa weights are odd integers up to 15, XNOR weights +-1) have
room for ``n`` up to 127; int8 layers (weights up to 127) keep ``n = 1``.

An int8 -> int8 requantization (a Quantize node copying a residual stream onto a DoReFa grid)
becomes a depthwise 1x1 convolution with weight ``n`` and scale ``1/n`` per channel, ``n`` chosen
the same way over all 256 inputs: TFLite's QUANTIZE rounds twice too, and XNNPACK's int8 QUANTIZE
even uses an 8-bit multiplier (``lrintf(256 * s_in / s_out)``, several percent off at the ratios
of a low-bit grid), while every runtime computes a depthwise convolution's multiplier at full
precision. The kernels then need no special case: the C runtime's low-bit kernels take ``n`` per
channel (``weight_steps``) and multiply their popcount sums by it.

Three more places round twice where the other runtimes round once, and get a form that does not:

- The accumulator of a window whose inputs all sit at their zero point (padding, a flat image
  background, a ReLU's zeros) is the bias alone, and it is the most frequent accumulator of an image
  layer: where it double-rounds, a whole background moves one level (and a Sign after it flips; on
  the w1a1 MobileNetV2 4% of the stem's outputs did). Such an int8 channel's int32 bias is moved by
  the fewest units that make it round once to the value it rounds to once now (``zero_input_bias``):
  a change of ``delta * M`` output steps, a small fraction of one. (A low-bit channel's weight step
  already covers that accumulator.)
- TFLite's MEAN (``GlobalAvgPool``) multiplies the sum by ``1/n`` as a fixed-point multiplier with
  as few as ``log2 n`` fraction bits for its first rounding: on a 7x7 map 2 sums in 49 round apart
  from ``round(sum / n)``. Where input and output share their quantization (as calibration leaves a
  mean's), the mean becomes an AVERAGE_POOL_2D over the whole map, ``(sum +- n/2) / n``, one exact
  rounding on every runtime (a Reshape after it drops the unit dims when the mean did).
- TFLite's MUL requantizes the product ``(a - zp_a) * (b - zp_b)`` with the same two roundings, and
  its products (up to 255 * 255, tens of thousands of distinct values) are too many for any scale
  to round all of them once. Where a Sign reads the Mul (a squeeze-excitation gate in an XNOR net),
  only the products next to the Sign's threshold decide anything, and a one-level miss there flips
  a binary activation (0.3% of the w1a1 MobileNetV2's gated values were one level apart, 0.2% of its
  signs flipped, and top-1 agreed on 0.88 of the digits). The Mul's output scale moves to the
  nearest float32 value (within ``MAX_SCALE_NUDGE``, relative) at which those products round once
  (``sign_boundary_scale``), and the Sign's threshold moves with it, halfway below the same code.

Accumulator bound: ``|n * acc| <= 127 * 255 * taps + |bias|``, the int8 layer's own bound.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ..ir import Graph, Node, QuantParams, Tensor, ops, verify
from .activation_range import activation_range
from .fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from .quantizers import sign_threshold, sign_threshold_code

INT8_MAX = 127
# Accumulators checked per channel at most; beyond it a channel keeps n = 1 (wide int8 ranges
# round at large e already, where double rounding is rare).
MAX_CHECKED_ACCUMULATORS = 1 << 17
# Farthest an int32 bias is moved for its zero-input accumulator to round once.
MAX_BIAS_NUDGE = 64
# Farthest a Mul's output scale is moved, relative to it, for the products at its Signs'
# boundaries to round once, and the step of that search (a few float32 ulps).
MAX_SCALE_NUDGE = 2.0 ** -8
SCALE_NUDGE_STEP = 2.0 ** -20
# Least distance of a once-rounded product from a half, relative to its magnitude (at least 1): the
# float32 runtimes compute acc * M with a relative error of a few 2^-24.
HALF_MARGIN = 2.0 ** -20


def f32(value) -> np.ndarray:
    """float32-representable float64 values (the IR keeps scales TFLite can store exactly)."""
    return np.asarray(value, dtype=np.float64).astype(np.float32).astype(np.float64)


def weight_steps(w: np.ndarray) -> np.ndarray:
    """Per output channel, the greatest common divisor of the weights' magnitudes (at least 1): the
    step ``n`` a channel stored for single rounding multiplies its +-1 or odd weights by."""
    steps = np.gcd.reduce(np.abs(w.reshape(w.shape[0], -1)).astype(np.int64), axis=1)
    return np.maximum(steps, 1)


def step_units(w: np.ndarray) -> np.ndarray:
    """The weights divided by their channel's step: the +-1 or odd values of a low-bit layer."""
    return w // weight_steps(w).reshape((-1,) + (1,) * (w.ndim - 1))


def double_rounding_misses(acc: np.ndarray, multiplier: float) -> int:
    """How many accumulators TFLite's ``MultiplyByQuantizedMultiplier`` rounds differently from
    rounding ``acc * multiplier`` once (half up; exact halves do not occur at these multipliers)."""
    q, shift = quantize_multiplier(multiplier)
    tflite = multiply_by_quantized_multiplier(acc, q, shift)
    once = np.floor(acc.astype(np.float64) * multiplier + 0.5).astype(np.int64)
    return int(np.count_nonzero(tflite != once))


def rounds_once(acc, multiplier: float) -> bool:
    """Whether TFLite's ``MultiplyByQuantizedMultiplier`` rounds the accumulator ``acc`` (one value
    or an array of them, every one) as a once-rounding float32 runtime does: no double-rounding miss
    and not too close to a half."""
    acc = np.atleast_1d(np.asarray(acc, dtype=np.int64))
    exact = acc.astype(np.float64) * multiplier
    clear = np.abs(exact - np.floor(exact) - 0.5) > HALF_MARGIN * np.maximum(1.0, np.abs(exact))
    return bool(np.all(clear)) and double_rounding_misses(acc, multiplier) == 0


def zero_input_bias(bias: int, multiplier: float) -> int:
    """The int32 bias nearest ``bias`` (within ``MAX_BIAS_NUDGE``) that rounds once to the value
    ``bias * multiplier`` rounds to once; ``bias`` itself when none does."""
    target = np.floor(bias * multiplier + 0.5)
    for delta in sorted(range(-MAX_BIAS_NUDGE, MAX_BIAS_NUDGE + 1), key=lambda d: (abs(d), d)):
        acc = bias + delta
        if np.floor(acc * multiplier + 0.5) == target and rounds_once(acc, multiplier):
            return acc
    return bias


def best_step(codes: np.ndarray, s_in: float, s_w: float, s_out: float, max_step: int) -> int:
    """The weight step ``n`` in ``[1, max_step]`` with the fewest double-rounding misses over the
    accumulator values ``codes`` (of the unscaled layer); the largest such ``n`` when several have
    none (the most fractional bits), the smallest when all miss."""
    best, best_misses = 1, None
    for n in range(max_step, 0, -1):
        multiplier = float(s_in * f32(s_w / n) / s_out)
        misses = double_rounding_misses(codes * n, multiplier)
        if misses == 0:
            return n
        if best_misses is None or misses <= best_misses:
            best, best_misses = n, misses
    return best


def _input_codes(x: QuantParams) -> tuple:
    """Range ``[lo, hi]`` of ``x - zp`` over the values the input tensor holds, and 0."""
    zp = int(x.zero_point[0])
    return min(x.qmin - zp, 0), max(x.qmax - zp, 0)  # 0: a zero-padded tap


def _channel_codes(w_row: np.ndarray, bias: int, u: tuple, out_range: tuple, multiplier: float) -> Optional[np.ndarray]:
    """Every accumulator ``sum w * u + bias`` of one channel whose requantized value is inside the
    output range (one level of margin), or None when there are too many to check."""
    w_row = w_row.astype(np.int64)
    lo = int(np.sum(np.where(w_row > 0, w_row * u[0], w_row * u[1]))) + bias
    hi = int(np.sum(np.where(w_row > 0, w_row * u[1], w_row * u[0]))) + bias
    if multiplier > 0:
        lo = max(lo, int(np.floor((out_range[0] - 1) / multiplier)))
        hi = min(hi, int(np.ceil((out_range[1] + 1) / multiplier)))
    if hi < lo or hi - lo + 1 > MAX_CHECKED_ACCUMULATORS:
        return None
    return np.arange(lo, hi + 1, dtype=np.int64)


def _rescaled_weights(graph: Graph, node: Node) -> Optional[tuple]:
    """``(weights, weight quant, bias, bias quant)`` of ``node`` with per-channel steps, or None when
    every channel keeps ``n = 1``."""
    x_q = graph.tensors[node.inputs[0]].quant
    w_t = graph.tensors[node.inputs[1]]
    out_t = graph.tensors[node.output]
    b_t = graph.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] is not None else None
    w = w_t.data.reshape(w_t.shape[0], -1).astype(np.int64)
    peaks = np.abs(w).max(axis=1)
    if not np.any((peaks > 0) & (2 * peaks <= INT8_MAX)):
        return None
    s_in, s_out, zp_out = float(x_q.scale[0]), float(out_t.quant.scale[0]), int(out_t.quant.zero_point[0])
    qlo, qhi = activation_range(getattr(node.op, "clamp", (None, None)), out_t.quant)
    out_range = (qlo - zp_out, qhi - zp_out)
    bias = b_t.data.astype(np.int64) if b_t is not None else np.zeros(w.shape[0], dtype=np.int64)
    scales = w_t.quant.scale.astype(np.float64)
    steps = np.ones(w.shape[0], dtype=np.int64)
    for c in range(w.shape[0]):
        if peaks[c] == 0 or 2 * peaks[c] > INT8_MAX:
            continue
        codes = _channel_codes(w[c], int(bias[c]), _input_codes(x_q), out_range, s_in * scales[c] / s_out)
        if codes is not None:
            steps[c] = best_step(codes, s_in, scales[c], s_out, INT8_MAX // int(peaks[c]))
    if np.all(steps == 1):
        return None
    shape = (-1,) + (1,) * (w_t.data.ndim - 1)
    new_scales = f32(scales / steps)
    w_quant = dataclasses.replace(w_t.quant, scale=new_scales)
    weights = (w_t.data.astype(np.int64) * steps.reshape(shape)).astype(np.int8)
    if b_t is None:
        return weights, w_quant, None, None
    b_quant = dataclasses.replace(b_t.quant, scale=s_in * new_scales)
    return weights, w_quant, (bias * steps).astype(np.int32), b_quant


def _unit_conv(graph: Graph, node: Node) -> tuple:
    """A depthwise 1x1 convolution equal to the int8 -> int8 requantization ``node``: weight ``n``
    with scale ``1/n`` per channel, ``n`` chosen over all 256 input codes."""
    x = graph.tensors[node.inputs[0]]
    out = graph.tensors[node.output]
    codes = np.arange(-128, 128, dtype=np.int64) - int(x.quant.zero_point[0])
    s_in, s_out = float(x.quant.scale[0]), float(out.quant.scale[0])
    n = best_step(codes, s_in, 1.0, s_out, INT8_MAX)
    channels = x.shape[1]
    weight = Tensor(graph.unique_tensor_name(f"{node.name}_unit_weight"), (channels, 1) + (1,) * (len(x.shape) - 2), "int8",
                    quant=QuantParams(np.full(channels, float(f32(1.0 / n))), np.zeros(channels, dtype=np.int64),
                                      axis=0, qmin=-INT8_MAX, qmax=INT8_MAX))
    weight.data = np.full(weight.shape, n, dtype=np.int8)
    rank = len(x.shape) - 2
    conv = ops.Conv(stride=(1,) * rank, pads=(0,) * (2 * rank), dilation=(1,) * rank, groups=channels)
    return weight, conv


def mul_products(qa: QuantParams, qb: QuantParams) -> np.ndarray:
    """Every distinct product ``(a - zp_a) * (b - zp_b)`` of two int8 tensors' codes."""
    a = np.arange(qa.qmin, qa.qmax + 1, dtype=np.int64) - int(qa.zero_point[0])
    b = np.arange(qb.qmin, qb.qmax + 1, dtype=np.int64) - int(qb.zero_point[0])
    return np.unique(np.multiply.outer(a, b))


def sign_boundary_scale(products: np.ndarray, s_a: float, s_b: float, s_out: float, steps) -> Optional[float]:
    """The float32 output scale nearest ``s_out`` (within ``MAX_SCALE_NUDGE`` of it) at which TFLite's
    MUL rounds once every product that lies within half a step of a Sign boundary ``k - 1/2`` (``k``
    in ``steps``, the Signs' first +1 codes above the zero point); None when no scale does.

    A double-rounding miss moves a product less than a quarter step above its half-integer, so
    these are the only products whose Sign a once-rounding runtime can see flipped."""
    steps = np.asarray(sorted(steps), dtype=np.float64)
    reach = int(MAX_SCALE_NUDGE / SCALE_NUDGE_STEP)
    # The products near a boundary at any scale of the search: the nudge moves p * M by at most
    # about |k - 1/2| * MAX_SCALE_NUDGE <= 1 step (|k| <= 255, int8 codes), so 1/2 + 1 < 2 covers it.
    start = products[np.min(np.abs(np.subtract.outer(products * (s_a * s_b / s_out), steps - 0.5)), axis=1) < 2]
    for j in sorted(range(-reach, reach + 1), key=lambda j: (abs(j), j)):
        scale = float(f32(s_out * (1.0 + j * SCALE_NUDGE_STEP)))
        multiplier = s_a * s_b / scale
        near = np.min(np.abs(np.subtract.outer(start * multiplier, steps - 0.5)), axis=1) < 0.5
        if rounds_once(start[near], multiplier):
            return scale
    return None


def _with_sign_boundary_scale(graph: Graph, node: Node) -> None:
    """Move the output scale of the int8 Mul ``node`` whose every consumer is a Sign to the nearest
    one at which the products at the Signs' boundaries round once (``sign_boundary_scale``), and
    keep each Sign's threshold halfway below the same code. Left alone when no scale does."""
    signs = graph.consumers(node.output)
    out = graph.tensors[node.output]
    if (out.dtype != "int8" or any(graph.tensors[t].dtype != "int8" for t in node.inputs[:2]) or not signs
            or node.output in graph.outputs or not all(isinstance(c.op, ops.Sign) for c in signs)):
        return
    qa, qb = (graph.tensors[t].quant for t in node.inputs[:2])
    s_out = float(out.quant.scale[0])
    steps = [sign_threshold_code(c.op.threshold, s_out) for c in signs]
    scale = sign_boundary_scale(mul_products(qa, qb), float(qa.scale[0]), float(qb.scale[0]), s_out, set(steps))
    if scale is None or scale == s_out:
        return
    graph.tensors[out.name] = dataclasses.replace(out, quant=dataclasses.replace(out.quant, scale=np.array([scale])))
    for sign, k in zip(signs, steps):
        sign.op = dataclasses.replace(sign.op, threshold=sign_threshold(k, scale))


def _is_requantization(graph: Graph, node: Node) -> bool:
    return (isinstance(node.op, ops.Quantize) and graph.tensors[node.inputs[0]].dtype == "int8"
            and graph.tensors[node.output].dtype == "int8" and len(graph.tensors[node.inputs[0]].shape) >= 3)


def with_weight_steps(graph: Graph) -> Graph:
    """A copy of quantized ``graph`` with per-channel weight steps on its Conv/Linear layers."""
    out = graph.copy()
    for node in out.nodes:
        if not node.op.WEIGHTED or out.tensors[node.inputs[1]].dtype != "int8":
            continue
        rescaled = _rescaled_weights(out, node)
        if rescaled is None:
            continue
        weights, w_quant, bias, b_quant = rescaled
        w_t = out.tensors[node.inputs[1]]
        out.tensors[w_t.name] = dataclasses.replace(w_t, quant=w_quant, data=weights)
        if bias is not None:
            b_t = out.tensors[node.inputs[2]]
            out.tensors[b_t.name] = dataclasses.replace(b_t, quant=b_quant, data=bias)
    return out


def _with_zero_input_biases(graph: Graph, node: Node) -> None:
    """Move the biases of the int8 layer ``node`` so that each channel's zero-input accumulator
    rounds once. Low-bit layers are left alone: their weight step was chosen over every
    accumulator, the zero-input one included, and moving the bias would shift all of them."""
    b_name = node.inputs[2] if len(node.inputs) > 2 else None
    if b_name is None or node.precision != "int8":
        return
    x_q, w_t, b_t = graph.tensors[node.inputs[0]].quant, graph.tensors[node.inputs[1]], graph.tensors[b_name]
    s_in, s_out = float(x_q.scale[0]), float(graph.tensors[node.output].quant.scale[0])
    scales = np.broadcast_to(w_t.quant.scale, b_t.data.shape)
    bias = np.array([zero_input_bias(int(b), s_in * float(s) / s_out) for b, s in zip(b_t.data, scales)])
    if np.any(bias != b_t.data):
        graph.tensors[b_name] = dataclasses.replace(b_t, data=bias.astype(np.int32))


def _mean_as_average_pool(graph: Graph, node: Node) -> list:
    """The nodes replacing an int8 ``GlobalAvgPool`` whose input and output share their
    quantization: an AvgPool over the whole map, then a Reshape when the mean drops the unit dims."""
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.output]
    if y.dtype != "int8" or x.quant != y.quant:
        return [node]
    spatial = tuple(x.shape[2:])
    pool = dataclasses.replace(node, op=ops.AvgPool(kernel=spatial, stride=spatial, pads=(0,) * (2 * len(spatial))))
    if node.op.keepdims:
        return [pool]
    pooled = graph.add_tensor(Tensor(graph.unique_tensor_name(f"{node.output}_pooled"), x.shape[:2] + (1,) * len(spatial),
                                     "int8", quant=y.quant))
    flatten = dataclasses.replace(node, name=f"{node.name}_flatten", op=ops.Reshape(shape=(-1,)), inputs=[pooled.name])
    return [dataclasses.replace(pool, output=pooled.name), flatten]


def with_single_rounding(graph: Graph) -> Graph:
    """A copy of quantized ``graph`` whose requantizations round once on every runtime (module
    docstring): per-channel weight steps on Conv/Linear layers and zero-input biases that round
    once, depthwise unit convolutions for int8 -> int8 requantizations of feature maps, int8
    means as average pools, and Mul output scales at which the products by a Sign's threshold
    round once."""
    out = with_weight_steps(graph)
    nodes = []
    for node in out.nodes:
        if node.op.WEIGHTED:
            _with_zero_input_biases(out, node)
        if isinstance(node.op, ops.Mul):
            _with_sign_boundary_scale(out, node)
        if _is_requantization(out, node):
            weight, conv = _unit_conv(out, node)
            out.add_tensor(weight)
            nodes.append(dataclasses.replace(node, op=conv, inputs=[node.inputs[0], weight.name]))
        elif isinstance(node.op, ops.GlobalAvgPool):
            nodes.extend(_mean_as_average_pool(out, node))
        else:
            nodes.append(node)
    out.nodes = nodes
    return verify(out)
