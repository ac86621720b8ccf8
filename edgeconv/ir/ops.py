"""The operators of the IR: one typed dataclass per op, with its shape rule.

Every node has exactly one output. Inputs are listed in a fixed order per op (``INPUTS``); an input
named ``None`` is absent (e.g. a conv without bias). Shapes include the batch dimension, but every
op is batch-agnostic: dimension 0 is the batch and may change at run time.

Padding is written as ``pads = (begin_0, ..., begin_k, end_0, ..., end_k)`` over the spatial dims,
as in ONNX. ``clamp = (lo, hi)`` is a fused activation range in real units (``None`` = unbounded):
ReLU is ``(0, None)``, ReLU6 ``(0, 6)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar, Optional

Shape = tuple
Clamp = tuple  # (lo or None, hi or None)


class ShapeError(ValueError):
    """An op cannot take the shapes it is given."""


def _spatial_out(size: int, k: int, stride: int, pad_begin: int, pad_end: int, dilation: int, ceil: bool = False) -> int:
    span = dilation * (k - 1) + 1
    room = size + pad_begin + pad_end - span
    if room < 0:
        raise ShapeError(f"window {span} larger than padded input {size + pad_begin + pad_end}")
    out = (math.ceil(room / stride) if ceil else room // stride) + 1
    if ceil and (out - 1) * stride >= size + pad_begin:
        out -= 1  # the last window must start inside the input or its left padding
    return out


@dataclass(frozen=True)
class Op:
    """Base of all ops. ``NAME`` is the op's name in the IR, ``INPUTS`` its input slots.

    The upper-case class attributes below are the op's *traits*: facts about what the op is that
    passes, quantization, executors and backends ask instead of listing op names. An op states the
    traits that hold for it; every other trait keeps the default here.
    """

    NAME: ClassVar[str] = ""
    INPUTS: ClassVar[tuple] = ("x",)
    # Carries a constant weight (input 1) and optional bias (input 2), and so a per-layer precision
    # and kernel choice; BatchNorm folds into it.
    WEIGHTED: ClassVar[bool] = False
    # A nonlinearity of one tensor that follows a layer (ReLU-type clamps, sigmoids, swishes): a
    # layer merge removes it between two convolutions.
    ACTIVATION: ClassVar[bool] = False
    # One input, same shape out, and each output element depends only on the input element at the
    # same index (so the output keeps its input's element order, whatever it is). The dtype
    # conversions (Quantize, Dequantize) are not counted: they change the element size.
    PER_ELEMENT: ClassVar[bool] = False
    # The integer kernel requires the output's quantization to equal its inputs' (TFLite's rule for
    # pools, reshapes, pads and concatenation): input and output tensors share one QuantParams.
    KEEPS_GRID: ClassVar[bool] = False
    # The int8 output grid is fixed by the op, whatever the data: "probability" (scale 1/256,
    # zero point -128, TFLite's rule for Softmax and Logistic) or "binary" ({-1, +1}); None if not.
    FIXED_GRID: ClassVar[Optional[str]] = None
    # One activation input with ``f(x / r) = f(x) / r`` for every r > 0 (no clamp, no constant):
    # a positive rescaling of the input passes to the output unchanged.
    SCALE_EQUIVARIANT: ClassVar[bool] = False
    # Moves no values, only reinterprets the shape: free at run time (an alias of its input).
    LAYOUT_ONLY: ClassVar[bool] = False
    # Has a fused output ``clamp`` that a following Clip folds into (``passes/fuse_activation.py``).
    FUSES_CLIP: ClassVar[bool] = False

    def infer(self, shapes: list) -> Shape:
        return shapes[0]

    def attrs(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Conv(Op):
    """N-d convolution (1-D or 2-D), weights ``(C_out, C_in/groups, *kernel)``, optional bias."""

    NAME: ClassVar[str] = "Conv"
    WEIGHTED: ClassVar[bool] = True
    FUSES_CLIP: ClassVar[bool] = True
    INPUTS: ClassVar[tuple] = ("x", "weight", "bias")
    stride: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)
    dilation: tuple = (1, 1)
    groups: int = 1
    clamp: Clamp = (None, None)

    @property
    def rank(self) -> int:
        return len(self.stride)

    def infer(self, shapes: list) -> Shape:
        x, w = shapes[0], shapes[1]
        r = self.rank
        if len(x) != r + 2 or len(w) != r + 2:
            raise ShapeError(f"{r}-D conv needs rank-{r + 2} input and weight, got {x} and {w}")
        if x[1] != w[1] * self.groups:
            raise ShapeError(f"input has {x[1]} channels, weight expects {w[1]} x {self.groups} groups")
        if w[0] % self.groups:
            raise ShapeError(f"{w[0]} output channels not divisible by {self.groups} groups")
        if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != (w[0],):
            raise ShapeError(f"bias shape {shapes[2]} does not match {w[0]} output channels")
        out = [
            _spatial_out(x[2 + i], w[2 + i], self.stride[i], self.pads[i], self.pads[r + i], self.dilation[i])
            for i in range(r)
        ]
        return (x[0], w[0], *out)

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1


@dataclass(frozen=True)
class ConvTranspose(Op):
    """2-D transposed convolution (PyTorch's ``ConvTranspose2d``, ONNX's ``ConvTranspose``,
    TFLite's TRANSPOSE_CONV), dilation 1. Weights ``(C_out, C_in / groups, k_h, k_w)``: output
    channel first, as a Conv's, so per-channel quantization and BatchNorm folding read axis 0 alike
    (PyTorch and ONNX store ``(C_in, C_out / groups, ...)``; the frontends reorder). With ``groups``
    output channel ``o`` reads the input channels of its group only, as a grouped Conv does.

    Every input position ``(iy, ix)`` scatters its window onto the *full* map of
    ``(in - 1) * stride + k + output_padding`` rows and columns; the output is the full map with
    ``pads[i]`` removed at the start and ``pads[2 + i]`` at the end of spatial axis ``i``:

        y[n, o, oy, ox] = b[o] + sum over c, ky, kx with iy * s_h + ky = oy + pads[0] and
                                 ix * s_w + kx = ox + pads[1] of x[n, c, iy, ix] * W[o, c, ky, kx]

    ``clamp`` stays unbounded (``FUSES_CLIP`` is False): TFLite's TRANSPOSE_CONV int8 kernel
    requantizes without a fused activation, so a following ReLU stays an op of its own."""

    NAME: ClassVar[str] = "ConvTranspose"
    WEIGHTED: ClassVar[bool] = True
    INPUTS: ClassVar[tuple] = ("x", "weight", "bias")
    stride: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)
    output_padding: tuple = (0, 0)
    groups: int = 1
    clamp: Clamp = (None, None)

    def input_channel_first(self, w):
        """The IR's weights ``(C_out, C_in / g, kh, kw)`` as PyTorch and ONNX store them,
        ``(C_in, C_out / g, kh, kw)`` (a numpy array or a torch tensor)."""
        return self._swap_within_groups(w)

    def output_channel_first(self, w):
        """PyTorch's or ONNX's weights ``(C_in, C_out / g, kh, kw)`` in the IR's order."""
        return self._swap_within_groups(w)

    def _swap_within_groups(self, w):
        """Per group, the two channel axes exchanged: its own inverse."""
        rows, cols = w.shape[:2]
        per_group = w.reshape(self.groups, rows // self.groups, cols, *w.shape[2:]).swapaxes(1, 2)
        return per_group.reshape(self.groups * cols, rows // self.groups, *w.shape[2:])

    def full_size(self, in_spatial: tuple, kernel: tuple) -> tuple:
        """Rows and columns of the scattered map before ``pads`` are removed."""
        return tuple((i - 1) * s + k + p for i, s, k, p in zip(in_spatial, self.stride, kernel, self.output_padding))

    def infer(self, shapes: list) -> Shape:
        x, w = shapes[0], shapes[1]
        if len(x) != 4 or len(w) != 4:
            raise ShapeError(f"2-D transposed conv needs rank-4 input and weight, got {x} and {w}")
        if x[1] != w[1] * self.groups or w[0] % self.groups:
            raise ShapeError(f"{x[1]} input and {w[0]} output channels for weights of {w[1]} input channels "
                             f"in {self.groups} groups")
        if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != (w[0],):
            raise ShapeError(f"bias shape {shapes[2]} does not match {w[0]} output channels")
        if any(not 0 <= p < s for p, s in zip(self.output_padding, self.stride)):
            raise ShapeError(f"output padding {self.output_padding} must be below the stride {self.stride}")
        full = self.full_size(x[2:], w[2:])
        out = tuple(f - self.pads[i] - self.pads[2 + i] for i, f in enumerate(full))
        if any(o < 1 for o in out) or any(p < 0 for p in self.pads):
            raise ShapeError(f"padding {self.pads} leaves no output of the {full} map")
        return (x[0], w[0], *out)


@dataclass(frozen=True)
class Linear(Op):
    """``y = x @ W.T + b`` with ``W`` of shape ``(out_features, in_features)``."""

    NAME: ClassVar[str] = "Linear"
    WEIGHTED: ClassVar[bool] = True
    FUSES_CLIP: ClassVar[bool] = True
    INPUTS: ClassVar[tuple] = ("x", "weight", "bias")
    clamp: Clamp = (None, None)

    def infer(self, shapes: list) -> Shape:
        x, w = shapes[0], shapes[1]
        if len(x) != 2 or len(w) != 2 or x[1] != w[1]:
            raise ShapeError(f"linear takes (N, {w[1] if len(w) == 2 else '?'}) input, got {x}")
        return (x[0], w[0])


@dataclass(frozen=True)
class BatchNorm(Op):
    """Inference batch norm over axis 1: ``(x - mean) / sqrt(var + eps) * gamma + beta``."""

    NAME: ClassVar[str] = "BatchNorm"
    INPUTS: ClassVar[tuple] = ("x", "gamma", "beta", "mean", "var")
    eps: float = 1e-5


@dataclass(frozen=True)
class Clip(Op):
    """``min(max(x, lo), hi)``: ReLU, ReLU6 and Hardtanh."""

    NAME: ClassVar[str] = "Clip"
    ACTIVATION: ClassVar[bool] = True
    PER_ELEMENT: ClassVar[bool] = True
    lo: Optional[float] = 0.0
    hi: Optional[float] = None


@dataclass(frozen=True)
class LeakyRelu(Op):
    NAME: ClassVar[str] = "LeakyRelu"
    ACTIVATION: ClassVar[bool] = True
    PER_ELEMENT: ClassVar[bool] = True
    alpha: float = 0.01


@dataclass(frozen=True)
class Hardswish(Op):
    """``x * relu6(x + 3) / 6``."""

    NAME: ClassVar[str] = "Hardswish"
    ACTIVATION: ClassVar[bool] = True
    PER_ELEMENT: ClassVar[bool] = True


@dataclass(frozen=True)
class Hardsigmoid(Op):
    """``relu6(x + 3) / 6`` (PyTorch's definition)."""

    NAME: ClassVar[str] = "Hardsigmoid"
    ACTIVATION: ClassVar[bool] = True
    PER_ELEMENT: ClassVar[bool] = True


@dataclass(frozen=True)
class Sigmoid(Op):
    NAME: ClassVar[str] = "Sigmoid"
    ACTIVATION: ClassVar[bool] = True
    PER_ELEMENT: ClassVar[bool] = True
    FIXED_GRID: ClassVar[Optional[str]] = "probability"


@dataclass(frozen=True)
class SiLU(Op):
    """``x * sigmoid(x)``."""

    NAME: ClassVar[str] = "SiLU"
    ACTIVATION: ClassVar[bool] = True
    PER_ELEMENT: ClassVar[bool] = True


@dataclass(frozen=True)
class Gelu(Op):
    """``x * Phi(x)`` with ``Phi`` the standard normal CDF: ``0.5 * x * (1 + erf(x / sqrt(2)))``
    for ``approximate="none"``; ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``
    for ``approximate="tanh"`` (PyTorch's, ONNX's and TFLite's two forms)."""

    NAME: ClassVar[str] = "Gelu"
    ACTIVATION: ClassVar[bool] = True
    PER_ELEMENT: ClassVar[bool] = True
    approximate: str = "none"


def _broadcast(a: Shape, b: Shape) -> Shape:
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out = []
    for da, db in zip(a, b):
        if da != db and 1 not in (da, db):
            raise ShapeError(f"shapes {a} and {b} do not broadcast")
        out.append(max(da, db))
    return tuple(out)


@dataclass(frozen=True)
class Add(Op):
    NAME: ClassVar[str] = "Add"
    FUSES_CLIP: ClassVar[bool] = True
    INPUTS: ClassVar[tuple] = ("a", "b")
    clamp: Clamp = (None, None)

    def infer(self, shapes: list) -> Shape:
        return _broadcast(shapes[0], shapes[1])


@dataclass(frozen=True)
class Mul(Op):
    NAME: ClassVar[str] = "Mul"
    INPUTS: ClassVar[tuple] = ("a", "b")
    clamp: Clamp = (None, None)

    def infer(self, shapes: list) -> Shape:
        return _broadcast(shapes[0], shapes[1])


@dataclass(frozen=True)
class Concat(Op):
    """Concatenation of any number of inputs along ``axis`` (non-negative)."""

    NAME: ClassVar[str] = "Concat"
    KEEPS_GRID: ClassVar[bool] = True
    INPUTS: ClassVar[tuple] = ("*",)
    axis: int = 1

    def infer(self, shapes: list) -> Shape:
        first = list(shapes[0])
        for s in shapes[1:]:
            if len(s) != len(first) or any(a != b for i, (a, b) in enumerate(zip(s, first)) if i != self.axis):
                raise ShapeError(f"concat along axis {self.axis} of {shapes}")
        first[self.axis] = sum(s[self.axis] for s in shapes)
        return tuple(first)


@dataclass(frozen=True)
class MaxPool(Op):
    NAME: ClassVar[str] = "MaxPool"
    KEEPS_GRID: ClassVar[bool] = True
    SCALE_EQUIVARIANT: ClassVar[bool] = True
    kernel: tuple = (2, 2)
    stride: tuple = (2, 2)
    pads: tuple = (0, 0, 0, 0)
    dilation: tuple = (1, 1)
    ceil_mode: bool = False

    def infer(self, shapes: list) -> Shape:
        x, r = shapes[0], len(self.kernel)
        out = [
            _spatial_out(x[2 + i], self.kernel[i], self.stride[i], self.pads[i], self.pads[r + i], self.dilation[i], self.ceil_mode)
            for i in range(r)
        ]
        return (x[0], x[1], *out)


@dataclass(frozen=True)
class AvgPool(Op):
    """Average pooling; ``count_include_pad`` divides by the full window even at borders."""

    NAME: ClassVar[str] = "AvgPool"
    KEEPS_GRID: ClassVar[bool] = True
    SCALE_EQUIVARIANT: ClassVar[bool] = True
    kernel: tuple = (2, 2)
    stride: tuple = (2, 2)
    pads: tuple = (0, 0, 0, 0)
    count_include_pad: bool = True
    ceil_mode: bool = False

    def infer(self, shapes: list) -> Shape:
        x, r = shapes[0], len(self.kernel)
        out = [
            _spatial_out(x[2 + i], self.kernel[i], self.stride[i], self.pads[i], self.pads[r + i], 1, self.ceil_mode)
            for i in range(r)
        ]
        return (x[0], x[1], *out)


@dataclass(frozen=True)
class GlobalAvgPool(Op):
    """Mean over all spatial dims; ``keepdims`` keeps them as size 1 (AdaptiveAvgPool(1))."""

    NAME: ClassVar[str] = "GlobalAvgPool"
    KEEPS_GRID: ClassVar[bool] = True
    SCALE_EQUIVARIANT: ClassVar[bool] = True
    keepdims: bool = True

    def infer(self, shapes: list) -> Shape:
        x = shapes[0]
        if len(x) < 3:
            raise ShapeError(f"global average pooling needs spatial dims, got {x}")
        return (x[0], x[1], *([1] * (len(x) - 2))) if self.keepdims else (x[0], x[1])


@dataclass(frozen=True)
class Reshape(Op):
    """Reshape keeping the batch: the output is ``(N, *shape)``; one entry of ``shape`` may be -1."""

    NAME: ClassVar[str] = "Reshape"
    KEEPS_GRID: ClassVar[bool] = True
    SCALE_EQUIVARIANT: ClassVar[bool] = True
    LAYOUT_ONLY: ClassVar[bool] = True
    shape: tuple = (-1,)

    def infer(self, shapes: list) -> Shape:
        x = shapes[0]
        per_sample = math.prod(x[1:])
        known = math.prod(d for d in self.shape if d != -1)
        if list(self.shape).count(-1) > 1 or known == 0 or per_sample % known:
            raise ShapeError(f"cannot reshape {x} to (N, {self.shape})")
        return (x[0], *(per_sample // known if d == -1 else d for d in self.shape))


@dataclass(frozen=True)
class Transpose(Op):
    """Permutation of the dims: output dim ``i`` is input dim ``perm[i]``. The batch stays first
    (``perm[0] == 0``); the values move (unlike ``Reshape``), the codes and grid do not."""

    NAME: ClassVar[str] = "Transpose"
    KEEPS_GRID: ClassVar[bool] = True
    SCALE_EQUIVARIANT: ClassVar[bool] = True
    perm: tuple = (0, 1)

    def infer(self, shapes: list) -> Shape:
        x = shapes[0]
        if sorted(self.perm) != list(range(len(x))) or self.perm[0] != 0:
            raise ShapeError(f"permutation {self.perm} of a rank-{len(x)} tensor must keep the batch first")
        return tuple(x[p] for p in self.perm)


@dataclass(frozen=True)
class Slice(Op):
    """Elements ``start`` to ``end - 1`` (step 1) along ``axis`` (not the batch): one part of a
    ``chunk``, ``split`` or ``narrow``; the codes and grid are kept."""

    NAME: ClassVar[str] = "Slice"
    KEEPS_GRID: ClassVar[bool] = True
    SCALE_EQUIVARIANT: ClassVar[bool] = True
    axis: int = 1
    start: int = 0
    end: int = 1

    def infer(self, shapes: list) -> Shape:
        x = list(shapes[0])
        if not 0 < self.axis < len(x) or not 0 <= self.start < self.end <= x[self.axis]:
            raise ShapeError(f"slice {self.start}:{self.end} along axis {self.axis} of {tuple(x)}")
        x[self.axis] = self.end - self.start
        return tuple(x)


@dataclass(frozen=True)
class ResizeNearest(Op):
    """Nearest-neighbour upsampling of the spatial dims to ``size``, each an integer multiple ``k``
    of the input's: output position ``i`` reads input position ``i // k`` (PyTorch's ``nearest``,
    TFLite's RESIZE_NEAREST_NEIGHBOR without half-pixel centers, ONNX's asymmetric floor)."""

    NAME: ClassVar[str] = "ResizeNearest"
    KEEPS_GRID: ClassVar[bool] = True
    SCALE_EQUIVARIANT: ClassVar[bool] = True
    size: tuple = (1, 1)

    def factors(self, shape: Shape) -> tuple:
        return tuple(out // size for out, size in zip(self.size, shape[2:]))

    def infer(self, shapes: list) -> Shape:
        x = shapes[0]
        if len(x) - 2 != len(self.size) or any(out % size for out, size in zip(self.size, x[2:])):
            raise ShapeError(f"nearest resize of {x} to {self.size}: every size must be a multiple of the input's")
        return (x[0], x[1], *self.size)


@dataclass(frozen=True)
class ResizeBilinear(Op):
    """Bilinear resize of the two spatial dims of an NCHW tensor to ``size`` (any size, up or down;
    PyTorch's ``interpolate(mode="bilinear")`` without antialiasing).

    Output row ``y`` reads input rows ``floor(t)`` and ``floor(t) + 1`` (clamped to the input),
    weighted by the fraction of ``t``, where with ``scale = in / out``
    ``t = max(0, (y + 0.5) * scale - 0.5)`` (``align_corners=False``; TFLite's half-pixel
    centers, ONNX's ``half_pixel``) or, with ``align_corners=True``,
    ``t = y * (in - 1) / (out - 1)`` (ONNX's ``align_corners``); columns likewise. The int8 form
    is TFLite's fixed-point one (``reference.int_kernels.resize_bilinear``) on one grid, input's
    and output's."""

    NAME: ClassVar[str] = "ResizeBilinear"
    KEEPS_GRID: ClassVar[bool] = True
    SCALE_EQUIVARIANT: ClassVar[bool] = True
    size: tuple = (1, 1)
    align_corners: bool = False

    def infer(self, shapes: list) -> Shape:
        x = shapes[0]
        if len(x) != 4 or len(self.size) != 2 or any(int(s) < 1 for s in self.size):
            raise ShapeError(f"bilinear resize of {x} to {self.size}: an NCHW tensor and a positive size (H, W)")
        return (x[0], x[1], *self.size)


@dataclass(frozen=True)
class Pad(Op):
    """Constant padding of the spatial dims; ``value`` is in real units."""

    NAME: ClassVar[str] = "Pad"
    KEEPS_GRID: ClassVar[bool] = True
    pads: tuple = (0, 0, 0, 0)
    value: float = 0.0

    def infer(self, shapes: list) -> Shape:
        x = shapes[0]
        r = len(self.pads) // 2
        if len(x) != r + 2:
            raise ShapeError(f"pads {self.pads} do not fit input {x}")
        return (x[0], x[1], *(x[2 + i] + self.pads[i] + self.pads[r + i] for i in range(r)))


@dataclass(frozen=True)
class Softmax(Op):
    NAME: ClassVar[str] = "Softmax"
    FIXED_GRID: ClassVar[Optional[str]] = "probability"
    axis: int = -1
    beta: float = 1.0


@dataclass(frozen=True)
class Sign(Op):
    """Binarization of activations (XNOR-Net): ``+1`` where ``x >= threshold``, else ``-1``.

    The threshold is 0 but for a tensor that is never negative (a ReLU output pooled or gated),
    where ``x >= 0`` would be +1 everywhere; quantization then puts it halfway between two grid
    values of the input (``quant/quantize_graph.py``), so every runtime compares alike."""

    NAME: ClassVar[str] = "Sign"
    PER_ELEMENT: ClassVar[bool] = True
    FIXED_GRID: ClassVar[Optional[str]] = "binary"
    threshold: float = 0.0


@dataclass(frozen=True)
class Quantize(Op):
    """float32 -> integer with the output tensor's quantization (or int8 -> int8 requantization)."""

    NAME: ClassVar[str] = "Quantize"


@dataclass(frozen=True)
class Dequantize(Op):
    """integer -> float32 with the input tensor's quantization."""

    NAME: ClassVar[str] = "Dequantize"


OPS: dict = {cls.NAME: cls for cls in (
    Conv, ConvTranspose, Linear, BatchNorm, Clip, LeakyRelu, Hardswish, Hardsigmoid, Sigmoid, SiLU, Gelu, Add, Mul,
    Concat, MaxPool, AvgPool, GlobalAvgPool, Reshape, Transpose, Slice, ResizeNearest, ResizeBilinear, Pad, Softmax, Sign, Quantize, Dequantize,
)}



def ops_with(trait: str) -> tuple:
    """The names of the ops for which ``trait`` (an upper-case trait of :class:`Op`) holds."""
    return tuple(name for name, cls in OPS.items() if getattr(cls, trait))


def clamp_of(lo: Optional[float], hi: Optional[float]) -> Clamp:
    return (None if lo is None else float(lo), None if hi is None else float(hi))

