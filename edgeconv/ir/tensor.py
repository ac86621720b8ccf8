"""Tensors of the IR: a name, a shape, a dtype, a layout and, when quantized, its parameters.

Layout convention: the IR is channels-first, as PyTorch is. Activations are ``NCHW`` (2-D),
``NCL`` (1-D) or ``NC`` (features); conv weights are ``OIHW`` / ``OIL`` with ``I = C_in / groups``;
linear weights are ``OI``. A frontend whose model is channels-last (TFLite) converts on import and
records its own I/O layout on the graph, so runners can speak the model's layout at its ends.

Quantization follows the TFLite int8 spec (see ``edgeconv/quant/``): ``real = scale * (q - zero_point)``,
per tensor (``axis is None``) or per channel along ``axis`` (weights: the output-channel axis 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

DTYPES = ("float32", "int8", "int32", "int64", "uint8")

LAYOUTS_BY_RANK = {1: "C", 2: "NC", 3: "NCL", 4: "NCHW"}


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization of a tensor: ``real = scale * (q - zero_point)``.

    ``scale`` and ``zero_point`` are 1-D arrays, of length 1 for per-tensor quantization, or of
    the size of dimension ``axis`` for per-channel quantization. ``qmin``/``qmax`` give the
    integer range the values actually occupy: ``[-128, 127]`` for int8, fewer levels for DoReFa
    and binary tensors (DESIGN §2).
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: Optional[int] = None
    qmin: int = -128
    qmax: int = 127

    def __post_init__(self) -> None:
        # Scales are stored as float32 in .tflite and .onnx files and TFLite widens them to double
        # before deriving multipliers: keep exactly the float32 value so every consumer agrees.
        scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float32)).astype(np.float64)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", np.atleast_1d(np.asarray(self.zero_point, dtype=np.int64)))
        if self.scale.shape != self.zero_point.shape:
            raise ValueError("scale and zero_point must have the same length")
        if np.any(self.scale <= 0) or not np.all(np.isfinite(self.scale)):
            raise ValueError(f"quantization scale must be positive and finite, got {self.scale}")
        if self.axis is None and self.scale.size != 1:
            raise ValueError("per-tensor quantization takes one scale")

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    @property
    def levels(self) -> int:
        return self.qmax - self.qmin + 1

    def broadcast_shape(self, rank: int) -> tuple:
        """Shape that broadcasts ``scale``/``zero_point`` against a tensor of ``rank`` dims."""
        if self.axis is None:
            return (1,) * rank
        shape = [1] * rank
        shape[self.axis] = self.scale.size
        return tuple(shape)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantParams):
            return NotImplemented
        return (
            self.axis == other.axis
            and self.qmin == other.qmin
            and self.qmax == other.qmax
            and np.array_equal(self.scale, other.scale)
            and np.array_equal(self.zero_point, other.zero_point)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Tensor:
    """A value of the graph: an activation (``data is None``) or a constant (weights, biases)."""

    name: str
    shape: tuple
    dtype: str = "float32"
    layout: Optional[str] = None
    quant: Optional[QuantParams] = None
    data: Optional[np.ndarray] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.shape = tuple(int(d) for d in self.shape)
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name}: unknown dtype {self.dtype}")
        if self.layout is None:
            self.layout = LAYOUTS_BY_RANK.get(len(self.shape), "")
        if self.data is not None:
            self.data = np.ascontiguousarray(self.data, dtype=np.dtype(self.dtype))
            if self.data.shape != self.shape:
                raise ValueError(f"tensor {self.name}: data shape {self.data.shape} != {self.shape}")

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.numel * np.dtype(self.dtype).itemsize

    def describe(self) -> str:
        text = f"{self.dtype}[{'x'.join(str(d) for d in self.shape)}]"
        if self.quant is not None:
            q = self.quant
            if q.per_channel:
                text += f" q(axis={q.axis}, {q.scale.size} scales)"
            else:
                text += f" q(s={q.scale[0]:.6g}, zp={int(q.zero_point[0])})"
        return text
