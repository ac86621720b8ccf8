"""Lowering of IR nodes to C kernel calls: one function per op in ``LOWERINGS``.

Each lowering checks that the node fits a kernel (else raises :class:`Unsupported` naming why),
emits the constants it needs (weights re-laid out for the chosen kernel, multipliers, tables,
parameter structs) through the :class:`Emitter`, and returns a :class:`LayerCall` whose C code
names activation buffers by placeholders (``${t3}``, ``${scratch}``) that the generator fills in
after the arena is planned. All integer parameters are derived here, in Python, with the same
functions as the reference executor (``edgeconv.quant``), so the C kernels only apply them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ...ir import Graph, Node, Tensor, ops
from ...quant.activation_range import activation_range, quantize_scalar
from ...quant.fixedpoint import quantize_multiplier
from ...quant.single_rounding import step_units, weight_steps
from ...reference.int_kernels import softmax_params, weighted_requantization
from .layout import c_axis, c_dims, hwc3, is_layout_trivial, sample_bytes, to_c_order
from .variants import BY_NAME

INT32_MAX = 2**31 - 1
FLOAT_MAX = "FLT_MAX"


class Unsupported(Exception):
    """The node cannot be lowered to a C kernel (the message says why)."""


@dataclass
class LayerCall:
    """The C for one IR node."""

    node: Node
    kernel: str                      # variant name (kernels_c file stem)
    summary: str                     # comment text after the node name
    code: str                        # C statements with ${tN} / ${scratch} placeholders
    reads: list                      # activation tensors read
    scratch_bytes: int = 0
    inplace_of: Optional[str] = None  # input whose buffer the output may take over
    alias_of: Optional[str] = None    # output is the same bytes as this input (no code)
    skipped_nodes: tuple = ()         # nodes fused into this call

    @property
    def algorithm(self) -> str:
        return BY_NAME[self.kernel].algorithm


@dataclass
class Emitter:
    """Collects the constant definitions of model.c and maps tensors to placeholders."""

    graph: Graph
    prefix: str
    definitions: list = field(default_factory=list)
    weights_bytes: int = 0
    # Flattened tensors kept in channels-last byte order (see lower_reshape): name -> (C, H*W).
    channels_last_flat: dict = field(default_factory=dict)
    # {-1, +1} tensors held as packed words between binary layers (packed.py): name -> bytes, and
    # the popcount limits of each XNOR convolution writing them: node name -> array.
    packed: dict = field(default_factory=dict)
    pop_limits: dict = field(default_factory=dict)
    _ids: dict = field(default_factory=dict)
    _names: set = field(default_factory=set)

    def tensor_id(self, name: str) -> str:
        if name not in self._ids:
            self._ids[name] = f"t{len(self._ids)}"
        return self._ids[name]

    def buf(self, name: str) -> str:
        return "${" + self.tensor_id(name) + "}"

    def sample_bytes(self, name: str) -> int:
        """Bytes of one sample of tensor ``name`` in C: packed words or its dtype's elements."""
        return self.packed.get(name) or sample_bytes(self.graph.tensors[name])

    def _symbol(self, base: str) -> str:
        stem = re.sub(r"[^0-9A-Za-z_]", "_", base)
        sym, i = f"{self.prefix}{stem}", 1
        while sym in self._names:
            i += 1
            sym = f"{self.prefix}{stem}_{i}"
        self._names.add(sym)
        return sym

    def array(self, base: str, ctype: str, values: np.ndarray, weights: bool = True) -> str:
        """A 16-byte-aligned ``static const`` array; returns its symbol."""
        values = np.asarray(values).reshape(-1)
        sym = self._symbol(base)
        body = _format_values(values, ctype)
        self.definitions.append(f"static EC_ALIGN16 const {ctype} {sym}[{max(values.size, 1)}] = {{\n{body}\n}};")
        if weights:
            self.weights_bytes += values.size * C_TYPE_BYTES[ctype]
        return sym

    def struct(self, base: str, ctype: str, fields: list) -> str:
        """A ``static const`` parameter struct initialised field by field; returns its symbol."""
        sym = self._symbol(base)
        self.definitions.append(f"static const {ctype} {sym} = {{{', '.join(str(f) for f in fields)}}};")
        return sym


# Bytes of each C element type the generator stores (the numpy copy may be wider).
C_TYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "uint32_t": 4, "float": 4}


def _format_values(values: np.ndarray, ctype: str) -> str:
    if values.size == 0:
        return "    0"
    if ctype == "float":
        items = [_float_literal(v) for v in values.astype(np.float32)]
        per_line = 6
    else:
        items = [str(int(v)) if ctype != "uint32_t" else f"0x{int(v):08x}u" for v in values]
        per_line = 8 if ctype == "uint32_t" else 16
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join("    " + line for line in lines)


def _float_literal(value) -> str:
    """A C float literal that reads back as exactly the same float32."""
    v = np.float32(value)
    if np.isinf(v):
        return FLOAT_MAX if v > 0 else "-" + FLOAT_MAX
    return np.format_float_scientific(v, unique=True, trim="0") + "f"


def _float_bound(value, default: str) -> str:
    return default if value is None else _float_literal(value)


# --------------------------------------------------------------------------------------------
# Shared helpers


def _is_float(t: Tensor) -> bool:
    return t.dtype == "float32"


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise Unsupported(message)


def _requant_arrays(em: Emitter, name: str, node: Node, channels: int) -> tuple:
    """Per-channel multiplier and shift arrays, derived by the integer reference itself."""
    rq = weighted_requantization(node, em.graph)
    q = np.broadcast_to(rq.multiplier, (channels,))
    shift = np.broadcast_to(rq.shift, (channels,))
    return em.array(f"{name}_mult", "int32_t", q), em.array(f"{name}_shift", "int32_t", shift)


def _per_tensor(t: Tensor, what: str) -> tuple:
    _require(t.quant is not None and not t.quant.per_channel, f"{what} {t.name} needs per-tensor quantization")
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _window(x: Tensor, y: Tensor, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple,
            groups: int = 1) -> list:
    """Fields of an ``ec_window_t`` for a 1-D or 2-D window op."""
    in_h, in_w, in_c = hwc3(x.shape)
    out_h, out_w, out_c = hwc3(y.shape)
    if len(kernel) == 1:
        kernel, stride, dilation = (1, kernel[0]), (1, stride[0]), (1, dilation[0])
        pads = (0, pads[0], 0, pads[1])
    top, left, bottom, right = pads[0], pads[1], pads[2], pads[3]
    return [in_h, in_w, in_c, out_h, out_w, out_c, kernel[0], kernel[1], stride[0], stride[1],
            top, left, bottom, right, dilation[0], dilation[1], groups]


def _activation_bounds(node_clamp: tuple, out: Tensor) -> tuple:
    return activation_range(node_clamp, out.quant)


# --------------------------------------------------------------------------------------------
# Convolution


def _variant_fits(name: str, node: Node, x: Tensor, w: np.ndarray, op: ops.Conv) -> bool:
    """Whether conv variant ``name`` can run this layer exactly."""
    k = tuple(w.shape[2:])
    depthwise = op.groups == x.shape[1] and op.groups > 1
    checks = {
        "ec_s8_conv2d_slidingwin": lambda: True,
        "ec_s8_conv2d_im2col": lambda: op.groups == 1,
        "ec_s8_conv2d_1x1": lambda: (op.groups == 1 and all(d == 1 for d in k) and all(s == 1 for s in op.stride)
                                     and not any(op.pads)),
        "ec_s8_dwconv2d_3x3": lambda: (depthwise and len(k) == 2 and k == (3, 3) and w.shape[0] == x.shape[1]
                                       and tuple(op.dilation) == (1, 1)),
        "ec_s8_dwconv2d_generic": lambda: depthwise,
        "ec_b1_conv2d_xnor": lambda: _fits_xnor(node, x, w, op),
        "ec_s8_conv2d_bitserial": lambda: _bitserial_bits(node, x, w, op) is not None,
    }
    return name in checks and checks[name]()


# Conv algorithm names (report.json, latency model) -> integer conv variants.
CONV_ALGORITHMS = {v.algorithm: v.name for v in BY_NAME.values() if v.op == "Conv" and v.dtype in ("s8", "b1")}


def _conv_choice(node: Node, x: Tensor, w: np.ndarray, y: Tensor, op: ops.Conv) -> str:
    """The variant the node asks for (by variant or algorithm name) when it fits, else the
    fastest that fits: binary and bit-serial kernels for low-bit layers, the depthwise and 1x1
    specializations, then the im2col GEMM where it needs no scratch (indirect: at most 9 taps and
    256 input channels) and fills at least one 16-channel block of its packed weights (narrower
    layers keep their weights unpadded in the sliding window), or where window rows are shorter
    than one 16-byte SIMD step (first layers, C_in 1 to 3), else the sliding window."""
    requested = CONV_ALGORITHMS.get(node.algorithm, node.algorithm)
    if requested and _variant_fits(requested, node, x, w, op):
        return requested
    for name in ("ec_b1_conv2d_xnor", "ec_s8_conv2d_bitserial", "ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic",
                 "ec_s8_conv2d_1x1"):
        if _variant_fits(name, node, x, w, op):
            return name
    gemm_without_scratch = im2col_indirect(x.shape[1], *_kernel_hw(w)) and w.shape[0] >= PACK_LANES
    if op.groups == 1 and (gemm_without_scratch or w.shape[-1] * x.shape[1] < 16):
        return "ec_s8_conv2d_im2col"
    return "ec_s8_conv2d_slidingwin"


def runs_xnor(graph: Graph, node: Node, fused_pad: Optional[Node] = None) -> bool:
    """Whether ``node`` (a convolution reading through ``fused_pad``, or a fully connected layer)
    can take packed input words: the XNOR kernel is its kernel (convolution) or fits it (linear)."""
    if node.op_name not in ("Conv", "Linear"):
        return False
    x = graph.tensors[(fused_pad or node).inputs[0]]
    wt, y = graph.tensors[node.inputs[1]], graph.tensors[node.output]
    if not wt.is_constant or x.dtype != "int8" or y.dtype != "int8":
        return False
    w = wt.data.astype(np.int64)
    if node.op_name == "Linear":
        return _binary_operands(node, x, w)
    return _conv_choice(node, x, w, y, node.op) == "ec_b1_conv2d_xnor"


def _kernel_hw(w: np.ndarray) -> tuple:
    """(k_h, k_w) of OIHW (or OIW, 1-D) weights."""
    return (1, w.shape[2]) if w.ndim == 3 else (w.shape[2], w.shape[3])


def _binary_operands(node: Node, x: Tensor, w: np.ndarray) -> bool:
    """A w1a1 layer reading {-1, +1} codes (zero point 0) with +-1 weights times a channel step."""
    q = x.quant
    return (node.precision == "w1a1" and q is not None and q.qmin >= -1 and q.qmax <= 1
            and int(q.zero_point[0]) == 0 and bool(np.all(np.abs(step_units(w)) == 1)))


def _fits_xnor(node: Node, x: Tensor, w: np.ndarray, op: ops.Conv) -> bool:
    """Groups 1 and no zero padding: the kernel pads with +1 (a +1 Pad before it is absorbed)."""
    return op.groups == 1 and not any(op.pads) and _binary_operands(node, x, w)


def _bitserial_bits(node: Node, x: Tensor, w: np.ndarray, op: ops.Conv) -> Optional[tuple]:
    """(activation bits M, weight bits K) when the layer is DoReFa with K <= 4, else None."""
    m = re.fullmatch(r"w(\d)a(\d)", node.precision or "")
    q = x.quant
    if not m or op.groups != 1 or q is None or q.per_channel:
        return None
    k_bits, m_bits = int(m.group(1)), int(m.group(2))
    zp = int(q.zero_point[0])
    levels = (1 << m_bits) - 1
    units = step_units(w)
    odd = bool(np.all(np.abs(units) % 2 == 1))
    if k_bits > 4 or m_bits > 8 or q.qmin < zp or q.qmax > zp + levels or not odd:
        return None
    if np.abs(units).max() > (1 << k_bits) - 1:
        return None
    return m_bits, k_bits


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Pack the last axis of a 0/1 array into little-endian uint32 words (channel c -> bit c%32
    of word c//32), zero-filling the last word."""
    n = bits.shape[-1]
    words = (n + 31) // 32
    padded = np.zeros(bits.shape[:-1] + (words * 32,), dtype=np.uint64)
    padded[..., :n] = bits
    weights = (np.uint64(1) << np.arange(32, dtype=np.uint64))
    grouped = padded.reshape(bits.shape[:-1] + (words, 32))
    return (grouped * weights).sum(axis=-1).astype(np.uint32)


# The packed layout of the GEMM-shaped kernels (kernels_c/include/ec_s8_packed.h) and the
# indirect im2col condition (EC_IM2COL_INDIRECT in ec_im2col.h), mirrored here.
PACK_LANES = 16
IM2COL_MAX_CIN = 256
IM2COL_MAX_TAPS = 9


def pack_gemm_weights(w_rows: np.ndarray) -> np.ndarray:
    """(C_out, K) int8 rows -> the packed layout, flat: blocks of 16 output channels by groups of
    4 K bytes, ``packed[b, g, c, j] = W[16 b + c, 4 g + j]``, zero-filled to ceil(C_out / 16)
    blocks and K4 = K rounded up to 4."""
    c_out, k = w_rows.shape
    blocks, k4 = -(-c_out // PACK_LANES), -(-k // 4) * 4
    padded = np.zeros((blocks * PACK_LANES, k4), dtype=np.int8)
    padded[:c_out, :k] = w_rows
    return padded.reshape(blocks, PACK_LANES, k4 // 4, 4).transpose(0, 2, 1, 3).reshape(-1)


def im2col_indirect(c_in: int, k_h: int, k_w: int) -> bool:
    """Whether ec_s8_conv2d_im2col reads the taps in place (no scratch) rather than unfolding rows."""
    return c_in <= IM2COL_MAX_CIN and k_h * k_w <= IM2COL_MAX_TAPS


def im2col_weight_rows(w_ohwi: np.ndarray, c_in: int, k_h: int, k_w: int) -> np.ndarray:
    """(C_out, K) OHWI rows in the K order of ec_s8_conv2d_im2col: when indirect, each tap's C_in
    weights zero-padded to a multiple of 4 (every tap starts a 4-byte group), else unchanged."""
    if not im2col_indirect(c_in, k_h, k_w):
        return w_ohwi
    taps = w_ohwi.reshape(w_ohwi.shape[0], k_h * k_w, c_in)
    return np.pad(taps, ((0, 0), (0, 0), (0, -c_in % 4))).reshape(w_ohwi.shape[0], -1)


def im2col_scratch_bytes(c_in: int, k_h: int, k_w: int, out_w: int) -> int:
    """Scratch of ec_s8_conv2d_im2col: none when indirect, else one unfolded output row
    (``EC_IM2COL_SCRATCH``: out_w patches of K rounded up to 4, and 4 bytes of slack)."""
    return 0 if im2col_indirect(c_in, k_h, k_w) else out_w * (-(-(k_h * k_w * c_in) // 4) * 4) + 4


def accumulator_bound(w_rows: np.ndarray, bias: np.ndarray) -> int:
    """max |bias| + 255 * max_o sum_k |W[o, k]|: the largest |acc| of any partial sum (|x - zp| <= 255)."""
    per_channel = np.abs(w_rows.astype(np.int64)).sum(axis=1)
    return int(np.abs(bias).max(initial=0)) + 255 * int(per_channel.max(initial=0))


def _gemm_arrays(em: Emitter, base: str, w_rows: np.ndarray) -> tuple:
    """Packed weights and per-channel weight sums of a GEMM-shaped kernel; returns their symbols."""
    w_sym = em.array(f"{base}_weights", "int8_t", pack_gemm_weights(w_rows))
    wsum_sym = em.array(f"{base}_wsum", "int32_t", w_rows.astype(np.int64).sum(axis=1))
    return w_sym, wsum_sym


XNOR_ROW_GROUP = 16  # output channels interleaved in the XNOR weight layout (ec_b1.h)


def pack_xnor_weights(w: np.ndarray) -> np.ndarray:
    """OIHW weights in {-1, +1} -> uint32 words (ceil(C_out / 16), k_h * k_w * words, 16): bit set
    <=> -1; the 16 channels of a group interleaved word by word, the last group zero-filled."""
    w_ohwi = np.moveaxis(w, 1, -1).reshape(w.shape[0], -1, w.shape[1])
    rows = pack_bits((w_ohwi < 0).astype(np.uint64)).reshape(w.shape[0], -1)  # C_out, taps * words
    groups = -(-w.shape[0] // XNOR_ROW_GROUP)
    padded = np.zeros((groups * XNOR_ROW_GROUP, rows.shape[1]), dtype=np.uint32)
    padded[: w.shape[0]] = rows
    return np.ascontiguousarray(padded.reshape(groups, XNOR_ROW_GROUP, -1).transpose(0, 2, 1))


def pack_bitserial_weights(w: np.ndarray, k_bits: int) -> np.ndarray:
    """OIHW odd weights w = 2i - (2^K - 1) -> the K bit planes of i as uint32 words
    (C_out, K, k_h * k_w, words)."""
    codes = (np.moveaxis(w, 1, -1).reshape(w.shape[0], -1, w.shape[1]).astype(np.int64) + (1 << k_bits) - 1) // 2
    planes = np.stack([(codes >> k) & 1 for k in range(k_bits)], axis=1)
    return pack_bits(planes.astype(np.uint64))


def lower_conv(em: Emitter, node: Node, fused_pad: Optional[Node] = None) -> LayerCall:
    g = em.graph
    op: ops.Conv = node.op
    x_name = node.inputs[0] if fused_pad is None else fused_pad.inputs[0]
    x, wt, y = g.tensors[x_name], g.tensors[node.inputs[1]], g.tensors[node.output]
    b = g.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] is not None else None
    _require(op.rank in (1, 2), f"{op.rank}-D convolution")
    _require(wt.is_constant, "weights must be constant")
    pads = tuple(fused_pad.op.pads) if fused_pad is not None else tuple(op.pads)
    k = wt.shape[2:]
    win_fields = _window(x, y, k, op.stride, pads, op.dilation, op.groups)
    shape_text = "x".join(str(d) for d in k)
    stride_text = "s" + "x".join(str(s) for s in sorted(set(op.stride)))
    if _is_float(y):
        return _lower_conv_f32(em, node, x, wt, b, y, win_fields, shape_text, stride_text)
    _require(x.dtype == "int8" and y.dtype == "int8" and wt.dtype == "int8", "int8 convolution needs int8 input, weights and output")
    s_in, zp_in = _per_tensor(x, "input")
    s_out, zp_out = _per_tensor(y, "output")
    w = wt.data.astype(np.int64)
    if b is not None:
        _require(b.is_constant and b.dtype == "int32", "bias must be a constant int32 tensor")
    bias = b.data.astype(np.int64) if b is not None else np.zeros(w.shape[0], dtype=np.int64)
    bound = accumulator_bound(w.reshape(w.shape[0], -1), bias)
    _require(bound <= INT32_MAX, f"accumulator bound {bound} exceeds int32")
    kernel = _conv_choice(node, x, w, y, op)
    qlo, qhi = _activation_bounds(op.clamp, y)
    base = node.name
    if node.name not in em.pop_limits:  # a packed output folds these into its popcount limits
        mult, shift = _requant_arrays(em, base, node, w.shape[0])
        bias_sym = em.array(f"{base}_bias", "int32_t", bias)
    win = em.struct(f"{base}_win", "ec_window_t", win_fields)
    qp = em.struct(f"{base}_q", "ec_qparams_t", [zp_in, zp_out, qlo, qhi])
    xin, yout = em.buf(x_name), em.buf(node.output)
    scratch_bytes = 0
    extra = ""
    c_in = x.shape[1]
    out_h, out_w = win_fields[3], win_fields[4]
    ext_h = (out_h - 1) * win_fields[8] + win_fields[14] * (win_fields[6] - 1) + 1
    ext_w = (out_w - 1) * win_fields[9] + win_fields[15] * (win_fields[7] - 1) + 1
    words = (c_in + 31) // 32
    if kernel in ("ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic"):
        _require(op.groups == c_in and w.shape[1] == 1, "depthwise kernels need groups == input channels")
        w_c = np.moveaxis(w.reshape(w.shape[0], -1) if len(k) == 1 else w[:, 0], 0, -1)  # kh kw O
        w_sym = em.array(f"{base}_weights", "int8_t", w_c.reshape(-1))
        call = f"{kernel}({xin}, {w_sym}, {bias_sym}, {mult}, {shift}, &{win}, &{qp}, {yout});"
    elif kernel == "ec_b1_conv2d_xnor":
        _require(_fits_xnor(node, x, w, op), "XNOR kernel needs a w1a1 layer with +-1 weights and a Sign input")
        w_sym = em.array(f"{base}_weights", "uint32_t", pack_xnor_weights(w))
        scratch_bytes = (ext_h * ext_w + win_fields[6] * win_fields[7]) * words * 4
        flags = ["EC_B1_IN_PACKED"] if x_name in em.packed else []
        if node.name in em.pop_limits:
            flags.append("EC_B1_OUT_PACKED")
            limits = em.array(f"{base}_pop_limits", "int32_t", em.pop_limits[node.name])
            operands = f"NULL, NULL, NULL, NULL, {limits}"
            extra = "packed bits out, "
        else:
            steps_sym = em.array(f"{base}_weight_steps", "int32_t", weight_steps(w))
            operands = f"{bias_sym}, {steps_sym}, {mult}, {shift}, NULL"
        extra = ("packed bits in, " if x_name in em.packed else "") + extra
        call = (f"{kernel}({xin}, {w_sym}, {operands}, &{win}, &{qp}, {' | '.join(flags) or 0}, "
                f"(uint32_t *)${{scratch}}, {yout});")
    elif kernel == "ec_s8_conv2d_bitserial":
        bits = _bitserial_bits(node, x, w, op)
        _require(bits is not None, "bit-serial kernel needs a DoReFa layer with K <= 4 weight bits")
        m_bits, k_bits = bits
        w_sym = em.array(f"{base}_weights", "uint32_t", pack_bitserial_weights(step_units(w), k_bits))
        steps_sym = em.array(f"{base}_weight_steps", "int32_t", weight_steps(w))
        scratch_bytes = (ext_h * ext_w + win_fields[6] * win_fields[7]) * m_bits * words * 4
        extra = f"w{k_bits}a{m_bits}, "
        call = (f"{kernel}({xin}, {w_sym}, {bias_sym}, {steps_sym}, {mult}, {shift}, &{win}, &{qp}, {m_bits}, "
                f"{k_bits}, (uint32_t *)${{scratch}}, {yout});")
    else:
        _require(op.groups == 1 or kernel == "ec_s8_conv2d_slidingwin", f"{kernel} needs groups == 1")
        w_ohwi = np.moveaxis(w, 1, -1).reshape(w.shape[0], -1)
        if kernel == "ec_s8_conv2d_slidingwin":
            w_sym = em.array(f"{base}_weights", "int8_t", w_ohwi)
            call = f"{kernel}({xin}, {w_sym}, {bias_sym}, {mult}, {shift}, &{win}, &{qp}, {yout});"
        else:
            if kernel == "ec_s8_conv2d_im2col":
                w_ohwi = im2col_weight_rows(w_ohwi, c_in, win_fields[6], win_fields[7])
            w_sym, wsum_sym = _gemm_arrays(em, base, w_ohwi)
            args = f"{xin}, {w_sym}, {bias_sym}, {wsum_sym}, {mult}, {shift}, &{win}, &{qp}"
            if kernel == "ec_s8_conv2d_im2col":
                scratch_bytes = im2col_scratch_bytes(c_in, win_fields[6], win_fields[7], out_w)
                call = f"{kernel}({args}, (int8_t *)${{scratch}}, {yout});"
            else:
                call = f"{kernel}({args}, {yout});"
    summary = (f"{shape_text} {stride_text}, {c_in}->{w.shape[0]}"
               f"{', groups ' + str(op.groups) if op.groups > 1 else ''}, {extra}{node.precision}, {BY_NAME[kernel].algorithm}")
    return LayerCall(node, kernel, summary, call, [x_name], scratch_bytes,
                     skipped_nodes=(fused_pad.name,) if fused_pad is not None else ())


def _lower_conv_f32(em, node, x, wt, b, y, win_fields, shape_text, stride_text) -> LayerCall:
    op: ops.Conv = node.op
    _require(_is_float(x) and wt.dtype == "float32", "float convolution needs float32 input and weights")
    w_sym = em.array(f"{node.name}_weights", "float", np.moveaxis(wt.data, 1, -1).reshape(-1))
    bias_sym = em.array(f"{node.name}_bias", "float", b.data) if b is not None else "NULL"
    win = em.struct(f"{node.name}_win", "ec_window_t", win_fields)
    lo, hi = op.clamp
    call = (f"ec_f32_conv2d_direct({em.buf(node.inputs[0])}, {w_sym}, {bias_sym}, &{win}, "
            f"{_float_bound(lo, '-' + FLOAT_MAX)}, {_float_bound(hi, FLOAT_MAX)}, {em.buf(node.output)});")
    summary = f"{shape_text} {stride_text}, {x.shape[1]}->{wt.shape[0]}, fp32, direct"
    return LayerCall(node, "ec_f32_conv2d_direct", summary, call, [node.inputs[0]])


# --------------------------------------------------------------------------------------------
# Other weighted and elementwise ops


def lower_linear(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    op: ops.Linear = node.op
    x, wt, y = (g.tensors[n] for n in (node.inputs[0], node.inputs[1], node.output))
    b = g.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] is not None else None
    _require(wt.is_constant, "weights must be constant")
    n_in, n_out = wt.shape[1], wt.shape[0]
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    if _is_float(y):
        w_sym = em.array(f"{node.name}_weights", "float", wt.data)
        bias_sym = em.array(f"{node.name}_bias", "float", b.data) if b is not None else "NULL"
        lo, hi = op.clamp
        call = (f"ec_f32_fully_connected({xin}, {w_sym}, {bias_sym}, {n_in}, {n_out}, "
                f"{_float_bound(lo, '-' + FLOAT_MAX)}, {_float_bound(hi, FLOAT_MAX)}, {yout});")
        return LayerCall(node, "ec_f32_fully_connected", f"{n_in}->{n_out}, fp32", call, [node.inputs[0]])
    if node.inputs[0] in em.packed:
        return _lower_linear_packed(em, node)
    s_in, zp_in = _per_tensor(x, "input")
    s_out, zp_out = _per_tensor(y, "output")
    w = _columns_in_input_order(em, node.inputs[0], wt.data.astype(np.int64))
    bias = b.data.astype(np.int64) if b is not None else np.zeros(n_out, dtype=np.int64)
    bound = accumulator_bound(w, bias)
    _require(bound <= INT32_MAX, f"accumulator bound {bound} exceeds int32")
    mult, shift = _requant_arrays(em, node.name, node, n_out)
    qlo, qhi = _activation_bounds(op.clamp, y)
    w_sym, wsum_sym = _gemm_arrays(em, node.name, w)
    bias_sym = em.array(f"{node.name}_bias", "int32_t", bias)
    qp = em.struct(f"{node.name}_q", "ec_qparams_t", [zp_in, zp_out, qlo, qhi])
    call = (f"ec_s8_fully_connected({xin}, {w_sym}, {bias_sym}, {wsum_sym}, {mult}, {shift}, {n_in}, {n_out}, "
            f"&{qp}, {yout});")
    return LayerCall(node, "ec_s8_fully_connected", f"{n_in}->{n_out}, {node.precision}", call, [node.inputs[0]])


def _lower_linear_packed(em: Emitter, node: Node) -> LayerCall:
    """A binary Linear reading a flattened map as packed words, pixel by pixel (packed.py): its
    weight columns, in the reference's channels-first flatten order, are regrouped by pixel and
    packed like the input."""
    g = em.graph
    wt, y = g.tensors[node.inputs[1]], g.tensors[node.output]
    b = g.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] is not None else None
    flatten = g.producer(g.producer(node.inputs[0]).inputs[0])  # Sign <- flatten
    channels = g.tensors[flatten.inputs[0]].shape[1]
    w = wt.data.astype(np.int64)
    n_out, k_total = w.shape
    by_pixel = np.moveaxis(w.reshape(n_out, channels, k_total // channels), 1, -1)  # O, H*W, C
    packed_rows = pack_bits((by_pixel < 0).astype(np.uint64)).reshape(n_out, -1)
    bias = b.data.astype(np.int64) if b is not None else np.zeros(n_out, dtype=np.int64)
    _require(accumulator_bound(w, bias) <= INT32_MAX, "accumulator bound exceeds int32")
    mult, shift = _requant_arrays(em, node.name, node, n_out)
    qlo, qhi = _activation_bounds(node.op.clamp, y)
    w_sym = em.array(f"{node.name}_weights", "uint32_t", packed_rows)
    bias_sym = em.array(f"{node.name}_bias", "int32_t", bias)
    steps_sym = em.array(f"{node.name}_weight_steps", "int32_t", weight_steps(w))
    qp = em.struct(f"{node.name}_q", "ec_qparams_t", [0, int(y.quant.zero_point[0]), qlo, qhi])
    call = (f"ec_b1_fully_connected({em.buf(node.inputs[0])}, {w_sym}, {bias_sym}, {steps_sym}, {mult}, {shift}, "
            f"{k_total}, {packed_rows.shape[1]}, {n_out}, &{qp}, {em.buf(node.output)});")
    return LayerCall(node, "ec_b1_fully_connected", f"{k_total}->{n_out}, w1a1, packed bits in, xnor-popcount", call,
                     [node.inputs[0]])


def _broadcast_fields(a: Tensor, b: Tensor, y: Tensor) -> list:
    rank = len(y.shape)

    def operand(t: Tensor) -> list:
        shape = (1,) * (rank - len(t.shape)) + tuple(t.shape)
        dims = [1] * 3 + c_dims(shape)
        dims = dims[-3:]
        strides, step = [0, 0, 0], 1
        for i in (2, 1, 0):
            strides[i] = step if dims[i] > 1 else 0
            step *= dims[i]
        return strides

    out_dims = ([1] * 3 + c_dims(y.shape))[-3:]
    _require(len(c_dims(y.shape)) <= 3, "broadcast of rank > 4")
    return [f"{{{', '.join(map(str, out_dims))}}}", f"{{{', '.join(map(str, operand(a)))}}}",
            f"{{{', '.join(map(str, operand(b)))}}}"]


def _operand(em: Emitter, node: Node, name: str, reads: list) -> str:
    t = em.graph.tensors[name]
    if t.is_constant:
        ctype = "float" if _is_float(t) else "int8_t"
        full = t.data.reshape((1,) * (len(em.graph.tensors[node.output].shape) - t.data.ndim) + t.data.shape)
        return em.array(f"{node.name}_{'const'}", ctype, to_c_order(full))
    reads.append(name)
    return em.buf(name)


def _lower_binary(em: Emitter, node: Node, op_name: str) -> LayerCall:
    g = em.graph
    a, b, y = g.tensors[node.inputs[0]], g.tensors[node.inputs[1]], g.tensors[node.output]
    reads: list = []
    pa, pb = _operand(em, node, node.inputs[0], reads), _operand(em, node, node.inputs[1], reads)
    bc = em.struct(f"{node.name}_bc", "ec_broadcast_t", _broadcast_fields(a, b, y))
    inplace = next((n for n in node.inputs if not g.tensors[n].is_constant and g.tensors[n].shape == y.shape
                    and g.tensors[n].dtype == y.dtype), None)
    lo, hi = node.op.clamp
    if _is_float(y):
        kernel = f"ec_f32_{op_name}"
        call = (f"{kernel}({pa}, {pb}, &{bc}, {_float_bound(lo, '-' + FLOAT_MAX)}, "
                f"{_float_bound(hi, FLOAT_MAX)}, {em.buf(node.output)});")
        return LayerCall(node, kernel, "fp32", call, reads, inplace_of=inplace)
    s_a, zp_a = _per_tensor(a, "input")
    s_b, zp_b = _per_tensor(b, "input")
    s_y, zp_y = _per_tensor(y, "output")
    qlo, qhi = _activation_bounds(node.op.clamp, y)
    if op_name == "add":
        left_shift = 20
        twice_max = 2 * max(s_a, s_b)
        ma, sa = quantize_multiplier(s_a / twice_max)
        mb, sb = quantize_multiplier(s_b / twice_max)
        mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * s_y))
        fields = [-zp_a, ma, sa, -zp_b, mb, sb, left_shift, mo, so, zp_y, qlo, qhi]
        params = em.struct(f"{node.name}_p", "ec_s8_add_params_t", fields)
    else:
        mo, so = quantize_multiplier(s_a * s_b / s_y)
        params = em.struct(f"{node.name}_p", "ec_s8_mul_params_t", [-zp_a, -zp_b, mo, so, zp_y, qlo, qhi])
    kernel = f"ec_s8_{op_name}"
    call = f"{kernel}({pa}, {pb}, &{bc}, &{params}, {em.buf(node.output)});"
    return LayerCall(node, kernel, node.precision, call, reads, inplace_of=inplace)


def lower_add(em: Emitter, node: Node) -> LayerCall:
    return _lower_binary(em, node, "add")


def lower_mul(em: Emitter, node: Node) -> LayerCall:
    return _lower_binary(em, node, "mul")


def _same_quant(x: Tensor, y: Tensor, what: str) -> None:
    _require(x.quant == y.quant, f"int8 {what} needs the same quantization on input and output")


def _lower_pool(em: Emitter, node: Node, kind: str) -> LayerCall:
    g = em.graph
    op = node.op
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    _require(len(op.kernel) in (1, 2), "pooling over more than 2 dims")
    dilation = getattr(op, "dilation", (1,) * len(op.kernel))
    _require(kind == "max" or all(d == 1 for d in dilation), "dilated average pooling")
    win = em.struct(f"{node.name}_win", "ec_window_t", _window(x, y, op.kernel, op.stride, op.pads, dilation))
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    ktext = "x".join(map(str, op.kernel)) + " s" + "x".join(map(str, sorted(set(op.stride))))
    if _is_float(y):
        kernel = f"ec_f32_{kind}pool2d"
        extra = "" if kind == "max" else f", {int(op.count_include_pad)}"
        return LayerCall(node, kernel, f"{ktext}, fp32", f"{kernel}({xin}, &{win}{extra}, {yout});", [node.inputs[0]])
    if node.output in em.packed:
        call = f"ec_b1_maxpool2d({xin}, &{win}, {yout});"
        return LayerCall(node, "ec_b1_maxpool2d", f"{ktext}, packed bits (AND)", call, [node.inputs[0]])
    _same_quant(x, y, f"{kind} pooling")
    lo, hi = y.quant.qmin, y.quant.qmax
    kernel = f"ec_s8_{kind}pool2d"
    if kind == "max":
        call = f"{kernel}({xin}, &{win}, {lo}, {hi}, {yout});"
    else:
        zp = int(x.quant.zero_point[0])
        call = f"{kernel}({xin}, &{win}, {int(op.count_include_pad)}, {zp}, {lo}, {hi}, {yout});"
    return LayerCall(node, kernel, f"{ktext}, int8", call, [node.inputs[0]])


def lower_maxpool(em: Emitter, node: Node) -> LayerCall:
    return _lower_pool(em, node, "max")


def lower_avgpool(em: Emitter, node: Node) -> LayerCall:
    return _lower_pool(em, node, "avg")


def mean_multiplier(real: float, count: int) -> tuple:
    """TFLite's MEAN multiplier with the division by ``count`` folded in (``QuantizedMeanOrSum``):
    ``(q, shift) = QM(real)``, ``k = min(floor(log2 count), 32, 31 + shift)``,
    ``q' = (q << k) // count``, ``shift' = shift - k``."""
    q, shift = quantize_multiplier(real)
    k = min(count.bit_length() - 1, 32, 31 + shift)
    return (q << k) // count, shift - k


def lower_global_avgpool(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    h, w, c = hwc3(x.shape)
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    if _is_float(y):
        return LayerCall(node, "ec_f32_global_avgpool", "fp32",
                         f"ec_f32_global_avgpool({xin}, {h * w}, {c}, {yout});", [node.inputs[0]])
    s_in, zp_in = _per_tensor(x, "input")
    s_out, zp_out = _per_tensor(y, "output")
    mult, shift = mean_multiplier(s_in / s_out, h * w)
    qp = em.struct(f"{node.name}_q", "ec_qparams_t", [zp_in, zp_out, y.quant.qmin, y.quant.qmax])
    call = f"ec_s8_global_avgpool({xin}, {h * w}, {c}, {mult}, {shift}, &{qp}, {yout});"
    return LayerCall(node, "ec_s8_global_avgpool", "int8", call, [node.inputs[0]])


def int8_table(graph: Graph, node: Node) -> np.ndarray:
    """The 256-entry table of an int8 -> int8 elementwise node, from the integer reference."""
    from ...reference.executor import INT_KERNELS

    kernel = INT_KERNELS.get(node.op_name)
    _require(kernel is not None, f"no integer reference kernel for {node.op_name} to build its table from")
    x = graph.tensors[node.inputs[0]]
    codes = np.arange(-128, 128, dtype=np.int8).reshape((256,) + (1,) * (len(x.shape) - 1))
    table = np.asarray(kernel(node, graph, codes)).reshape(-1)
    _require(table.size == 256, f"{node.op_name} is not elementwise")
    return table.astype(np.int8)


_F32_ACTIVATIONS = {
    "Clip": "EC_ACT_CLIP", "LeakyRelu": "EC_ACT_LEAKY_RELU", "Hardswish": "EC_ACT_HARDSWISH",
    "Hardsigmoid": "EC_ACT_HARDSIGMOID", "Sigmoid": "EC_ACT_SIGMOID", "SiLU": "EC_ACT_SILU",
    "Sign": "EC_ACT_SIGN",
}


def lower_elementwise(em: Emitter, node: Node) -> LayerCall:
    """Unary activations (and int8 -> int8 Quantize): a table in int8, a formula in float."""
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    n = math.prod(x.shape[1:])
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    if _is_float(x) and _is_float(y):
        _require(node.op_name in _F32_ACTIVATIONS, f"float {node.op_name}")
        op = node.op
        alpha = op.threshold if node.op_name == "Sign" else getattr(op, "alpha", 0.0)
        lo = getattr(op, "lo", None) if node.op_name == "Clip" else None
        hi = getattr(op, "hi", None) if node.op_name == "Clip" else None
        call = (f"ec_f32_activation({xin}, {n}, {_F32_ACTIVATIONS[node.op_name]}, {_float_literal(alpha)}, "
                f"{_float_bound(lo, '-' + FLOAT_MAX)}, {_float_bound(hi, FLOAT_MAX)}, {yout});")
        return LayerCall(node, "ec_f32_activation", "fp32", call, [node.inputs[0]], inplace_of=node.inputs[0])
    if node.output in em.packed:
        return LayerCall(node, "ec_layout", "folded into the popcount limits before it: the packed bits are its output",
                         "", [node.inputs[0]], alias_of=node.inputs[0])
    _require(x.dtype == "int8" and y.dtype == "int8", f"{node.op_name} from {x.dtype} to {y.dtype}")
    table = em.array(f"{node.name}_table", "int8_t", int8_table(g, node))
    call = f"ec_s8_lut({xin}, {table}, {n}, {yout});"
    return LayerCall(node, "ec_s8_lut", "int8, 256-entry table", call, [node.inputs[0]], inplace_of=node.inputs[0])


def lower_quantize(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    if x.dtype == "int8":
        return lower_elementwise(em, node)
    _require(_is_float(x) and y.dtype == "int8", f"Quantize from {x.dtype} to {y.dtype}")
    s, zp = _per_tensor(y, "output")
    n = math.prod(x.shape[1:])
    call = (f"ec_s8_quantize({em.buf(node.inputs[0])}, {n}, {_float_literal(s)}, {zp}, {y.quant.qmin}, "
            f"{y.quant.qmax}, {em.buf(node.output)});")
    return LayerCall(node, "ec_s8_quantize", f"float32 -> int8 (s={s:.6g}, zp={zp})", call, [node.inputs[0]])


def lower_dequantize(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x = g.tensors[node.inputs[0]]
    _require(x.dtype == "int8", f"Dequantize from {x.dtype}")
    s, zp = _per_tensor(x, "input")
    n = math.prod(x.shape[1:])
    call = f"ec_s8_dequantize({em.buf(node.inputs[0])}, {n}, {float(s)!r}, {zp}, {em.buf(node.output)});"
    return LayerCall(node, "ec_s8_dequantize", f"int8 -> float32 (s={s:.6g}, zp={zp})", call, [node.inputs[0]])


def lower_pad(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    op: ops.Pad = node.op
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    h, w, c = hwc3(x.shape)
    r = len(op.pads) // 2
    _require(r in (1, 2), "padding of more than 2 spatial dims")
    pads = (0, op.pads[0], 0, op.pads[1]) if r == 1 else (op.pads[0], op.pads[1], op.pads[2], op.pads[3])
    pads_sym = em.array(f"{node.name}_pads", "int32_t", np.array(pads, dtype=np.int32), weights=False)
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    if _is_float(y):
        call = f"ec_f32_pad({xin}, {h}, {w}, {c}, {pads_sym}, {_float_literal(op.value)}, {yout});"
        return LayerCall(node, "ec_f32_pad", "fp32", call, [node.inputs[0]])
    _same_quant(x, y, "padding")
    value = int(np.clip(quantize_scalar(op.value, x.quant), -128, 127))
    call = f"ec_s8_pad({xin}, {h}, {w}, {c}, {pads_sym}, {value}, {yout});"
    return LayerCall(node, "ec_s8_pad", f"value {op.value:g} (q={value}), int8", call, [node.inputs[0]])


def lower_concat(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    y = g.tensors[node.output]
    xs = [g.tensors[n] for n in node.inputs]
    for x in xs:
        _require(x.dtype == y.dtype, "concatenation of different dtypes")
        if not _is_float(y):
            _same_quant(x, y, "concatenation")
    axis = c_axis(len(y.shape), node.op.axis)
    dims = c_dims(y.shape)
    outer = math.prod(dims[:axis])
    item = np.dtype(y.dtype).itemsize
    inner = np.array([math.prod(c_dims(x.shape)[axis:]) * item for x in xs], dtype=np.int32)
    inner_sym = em.array(f"{node.name}_inner", "int32_t", inner, weights=False)
    reads = []
    for name in node.inputs:
        reads.append(name)
    ptrs = ", ".join(f"(const void *){em.buf(n)}" for n in node.inputs)
    call = (f"{{\n        const void *const parts[{len(xs)}] = {{{ptrs}}};\n"
            f"        ec_concat(parts, {inner_sym}, {len(xs)}, {outer}, {em.buf(node.output)});\n    }}")
    return LayerCall(node, "ec_layout", f"{len(xs)} inputs along axis {node.op.axis}", call, reads)


# int8 ops that map each element on its own (lookup tables, clamps): their output keeps the byte
# order of their input, whatever that order is.
PER_ELEMENT_OPS = ("Sign", "Clip", "LeakyRelu", "Hardswish", "Hardsigmoid", "Sigmoid", "SiLU")


def _per_element_int8(graph: Graph, node: Node) -> bool:
    return (node.op_name in PER_ELEMENT_OPS and len(node.inputs) == 1
            and graph.tensors[node.output].dtype == "int8" and graph.tensors[node.inputs[0]].dtype == "int8")


def _read_only_by_linear(graph: Graph, tensor: str) -> bool:
    """Whether ``tensor`` reaches only Linear layers (as their input), directly or through per-element
    int8 ops (the binarizing Sign before an XNOR classifier), and no graph output."""
    readers = graph.consumers(tensor)
    return (tensor not in graph.outputs and bool(readers) and all(
        (n.op_name == "Linear" and n.inputs[0] == tensor)
        or (_per_element_int8(graph, n) and _read_only_by_linear(graph, n.output)) for n in readers))


def _keep_channels_last(em: Emitter, tensor: str, order: tuple) -> None:
    """Record that ``tensor`` and the per-element ops' outputs after it hold channels-last bytes."""
    em.channels_last_flat[tensor] = order
    for reader in em.graph.consumers(tensor):
        if _per_element_int8(em.graph, reader):
            _keep_channels_last(em, reader.output, order)


def _columns_in_input_order(em: Emitter, x_name: str, w: np.ndarray) -> np.ndarray:
    """int8 Linear weights (O, C*H*W) in the byte order of their input: permuted to (O, H*W*C) when
    the input is a flatten kept in channels-last order (``Emitter.channels_last_flat``)."""
    if x_name not in em.channels_last_flat:
        return w
    channels, positions = em.channels_last_flat[x_name]
    return w.reshape(w.shape[0], channels, positions).transpose(0, 2, 1).reshape(w.shape[0], -1)


def lower_reshape(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    item = np.dtype(y.dtype).itemsize
    in_trivial, out_trivial = is_layout_trivial(x.shape), is_layout_trivial(y.shape)
    if in_trivial and out_trivial:
        return LayerCall(node, "ec_layout", "no data movement", "", [node.inputs[0]], alias_of=node.inputs[0])
    if node.output in em.packed:
        return LayerCall(node, "ec_layout", "flatten of packed bits, read pixel by pixel: no data movement", "",
                         [node.inputs[0]], alias_of=node.inputs[0])
    in_hw, out_hw = math.prod(x.shape[2:]), math.prod(y.shape[2:])
    if len(y.shape) == 2 and y.dtype == "int8" and _read_only_by_linear(g, node.output):
        # An int8 flatten whose readers are all Linear layers (maybe behind per-element ops): the
        # bytes stay in channels-last order and each Linear's weight columns are permuted to match
        # (lower_linear), so nothing moves. Integer sums do not depend on their order; a float
        # Linear keeps the channels-first order, as its float32 sum must follow the reference's.
        _keep_channels_last(em, node.output, (x.shape[1], in_hw))
        return LayerCall(node, "ec_layout", "flatten read in channels-last order: no data movement", "",
                         [node.inputs[0]], alias_of=node.inputs[0])
    if not out_trivial and in_trivial:
        call = f"ec_chw_to_hwc({xin}, {out_hw}, {y.shape[1]}, {item}, {yout});"
        return LayerCall(node, "ec_layout", "channels-first -> channels-last", call, [node.inputs[0]])
    if out_trivial:
        call = f"ec_hwc_to_chw({xin}, {in_hw}, {x.shape[1]}, {item}, {yout});"
        return LayerCall(node, "ec_layout", "channels-last -> channels-first", call, [node.inputs[0]])
    call = (f"ec_hwc_to_chw({xin}, {in_hw}, {x.shape[1]}, {item}, ${{scratch}});\n"
            f"    ec_chw_to_hwc(${{scratch}}, {out_hw}, {y.shape[1]}, {item}, {yout});")
    return LayerCall(node, "ec_layout", "reorder through channels-first", call, [node.inputs[0]],
                     scratch_bytes=sample_bytes(x))


def lower_softmax(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    dims = c_dims(x.shape)
    _require(c_axis(len(x.shape), node.op.axis) == len(dims) - 1, "softmax over an axis other than the channels")
    depth = dims[-1]
    outer = math.prod(dims[:-1])
    xin, yout = em.buf(node.inputs[0]), em.buf(node.output)
    if _is_float(y):
        call = f"ec_f32_softmax({xin}, {outer}, {depth}, {_float_literal(node.op.beta)}, {yout});"
        return LayerCall(node, "ec_f32_softmax", "fp32", call, [node.inputs[0]])
    s_in, _ = _per_tensor(x, "input")
    s_out, zp_out = _per_tensor(y, "output")
    _require(abs(s_out - 1 / 256) < 1e-12 and zp_out == -128, "int8 softmax output must have scale 1/256, zero point -128")
    mult, left_shift, diff_min = softmax_params(s_in, node.op.beta)
    call = f"ec_s8_softmax({xin}, {outer}, {depth}, {mult}, {left_shift}, {diff_min}, {yout});"
    return LayerCall(node, "ec_s8_softmax", "int8, fixed point", call, [node.inputs[0]])


def lower_batchnorm(em: Emitter, node: Node) -> LayerCall:
    g = em.graph
    x, y = g.tensors[node.inputs[0]], g.tensors[node.output]
    _require(_is_float(x) and _is_float(y), "BatchNorm on integers (fold it into the convolution first)")
    gamma, beta, mean, var = (g.tensors[n].data.astype(np.float64) for n in node.inputs[1:5])
    scale = gamma / np.sqrt(var + node.op.eps)
    shift = beta - mean * scale
    h, w, c = hwc3(x.shape)
    s_sym = em.array(f"{node.name}_scale", "float", scale)
    t_sym = em.array(f"{node.name}_shift", "float", shift)
    call = f"ec_f32_channel_affine({em.buf(node.inputs[0])}, {h * w}, {c}, {s_sym}, {t_sym}, {em.buf(node.output)});"
    return LayerCall(node, "ec_f32_channel_affine", "fp32", call, [node.inputs[0]], inplace_of=node.inputs[0])


LOWERINGS: dict = {
    "Conv": lower_conv,
    "Linear": lower_linear,
    "Add": lower_add,
    "Mul": lower_mul,
    "MaxPool": lower_maxpool,
    "AvgPool": lower_avgpool,
    "GlobalAvgPool": lower_global_avgpool,
    "Clip": lower_elementwise,
    "LeakyRelu": lower_elementwise,
    "Hardswish": lower_elementwise,
    "Hardsigmoid": lower_elementwise,
    "Sigmoid": lower_elementwise,
    "SiLU": lower_elementwise,
    "Sign": lower_elementwise,
    "Quantize": lower_quantize,
    "Dequantize": lower_dequantize,
    "Pad": lower_pad,
    "Concat": lower_concat,
    "Reshape": lower_reshape,
    "Softmax": lower_softmax,
    "BatchNorm": lower_batchnorm,
}


def xnor_pad_fusions(graph: Graph) -> dict:
    """Conv node name -> the Pad node it absorbs: a +1 Pad on a {-1,+1} tensor read only by a
    zero-padded conv that runs the XNOR kernel becomes the conv's one-padding (no padded copy)."""
    fused = {}
    for node in graph.nodes:
        if node.op_name != "Conv" or node.precision != "w1a1" or any(node.op.pads) or node.op.rank != 2:
            continue
        requested = CONV_ALGORITHMS.get(node.algorithm, node.algorithm)
        if requested not in (None, "ec_b1_conv2d_xnor"):
            continue  # an int8 kernel was chosen for this layer: it needs the padded copy
        pad = graph.producer(node.inputs[0])
        if pad is None or pad.op_name != "Pad" or len(pad.op.pads) != 4:
            continue
        src = graph.tensors[pad.inputs[0]]
        padded = graph.tensors[pad.output]
        if src.quant is None or padded.quant != src.quant or src.quant.qmin < -1 or src.quant.qmax > 1:
            continue
        if int(src.quant.zero_point[0]) != 0 or quantize_scalar(pad.op.value, src.quant) != 1:
            continue
        if len(graph.consumers(pad.output)) != 1 or pad.output in graph.outputs:
            continue
        w = graph.tensors[node.inputs[1]]
        if not w.is_constant or not _fits_xnor(node, src, w.data.astype(np.int64), node.op):
            continue
        fused[node.name] = pad
    return fused

