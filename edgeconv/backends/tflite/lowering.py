"""The state shared by the per-op mappings while an IR graph is lowered to a TFLite model.

``Lowering`` knows which TFLite tensor holds each IR tensor, creates constants and intermediate
tensors, and appends operators with the version the converter would give them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from tflite.ActivationFunctionType import ActivationFunctionType as Act
from tflite.BuiltinOperator import BuiltinOperator as B

from ...ir import Graph, Node, QuantParams, Tensor
from .flatmodel import FlatModel, OptionsBuilder, TflQuant, TflTensor
from .layout import channels_last_shape
from .options import options
from .versions import op_version


# TFLite Micro's CONCATENATION prepares at most 10 inputs (kMaxInputNum in its concatenation.cc).
MAX_CONCAT_INPUTS = 10


def tfl_quant(q: Optional[QuantParams], dimension: int = 0) -> Optional[TflQuant]:
    if q is None:
        return None
    return TflQuant(q.scale.astype(np.float32), q.zero_point.astype(np.int64), dimension)


@dataclass
class Lowering:
    graph: Graph
    model: FlatModel = field(default_factory=FlatModel)
    index: dict = field(default_factory=dict)  # IR tensor name -> TFLite tensor index
    _names: set = field(default_factory=set)

    # --- tensors -------------------------------------------------------------------------------
    def _unique(self, name: str) -> str:
        base, i = name, 1
        while name in self._names:
            name = f"{base}_{i}"
            i += 1
        self._names.add(name)
        return name

    def ir(self, name: str) -> Tensor:
        return self.graph.tensors[name]

    def activation(self, name: str) -> int:
        """TFLite index of IR activation ``name`` (created channels-last on first use)."""
        if name not in self.index:
            t = self.ir(name)
            if t.is_constant:
                raise KeyError(f"{name} is a constant: the op mapping must lay it out")
            self.index[name] = self.model.add_tensor(TflTensor(
                self._unique(name), channels_last_shape(t.shape), t.dtype, tfl_quant(t.quant)))
        return self.index[name]

    def output(self, node: Node) -> int:
        return self.activation(node.output)

    def temporary(self, base: str, shape: tuple, dtype: str, quant: Optional[QuantParams]) -> int:
        """A new intermediate tensor (``shape`` already channels-last)."""
        return self.model.add_tensor(TflTensor(self._unique(base), tuple(shape), dtype, tfl_quant(quant)))

    def like(self, index: int, base: str, shape: Optional[tuple] = None) -> int:
        """A new intermediate tensor with the dtype and quantization of tensor ``index``."""
        src = self.model.tensors[index]
        return self.model.add_tensor(TflTensor(self._unique(base), tuple(shape or src.shape), src.dtype, src.quant))

    def constant(self, base: str, data: np.ndarray, quant: Optional[TflQuant] = None) -> int:
        data = np.ascontiguousarray(data)
        return self.model.add_tensor(TflTensor(self._unique(base), data.shape, str(data.dtype), quant, data))

    def int32_vector(self, base: str, values) -> int:
        return self.constant(base, np.asarray(values, dtype=np.int32))

    def shape_of(self, index: int) -> tuple:
        return self.model.tensors[index].shape

    def dtype_of(self, index: int) -> str:
        return self.model.tensors[index].dtype

    def quant_of(self, index: int) -> Optional[TflQuant]:
        return self.model.tensors[index].quant

    # --- operators -----------------------------------------------------------------------------
    def op(self, builtin: int, inputs: list, outputs: list, opts: Optional[OptionsBuilder] = None,
           version: Optional[int] = None) -> None:
        if version is None:
            quantized = any(self.dtype_of(i) == "int8" for i in list(inputs) + list(outputs) if i >= 0)
            version = op_version(builtin, quantized)
        self.model.add_operator(builtin, version, inputs, outputs, opts)

    def reshape(self, src: int, shape: tuple, dst: Optional[int] = None) -> int:
        """RESHAPE ``src`` to ``shape`` (into ``dst`` or a new tensor); returns the result."""
        if dst is None:
            dst = self.like(src, self.model.tensors[src].name + "_reshaped", tuple(shape))
        # -1 in the batch position keeps the model batch-agnostic (LiteRT can resize its input).
        self.op(B.RESHAPE, [src, self.int32_vector("shape", (-1, *shape[1:]))], [dst],
                options("ReshapeOptions"))
        return dst

    def transpose(self, src: int, perm: tuple) -> int:
        shape = tuple(self.shape_of(src)[p] for p in perm)
        dst = self.like(src, self.model.tensors[src].name + "_transposed", shape)
        self.op(B.TRANSPOSE, [src, self.int32_vector("perm", perm)], [dst], options("TransposeOptions"))
        return dst

    def concatenate(self, inputs: list, dst: int, axis: int) -> None:
        """CONCATENATION of ``inputs`` (all with ``dst``'s quantization) into ``dst`` along ``axis``.

        Beyond ``MAX_CONCAT_INPUTS`` inputs the first ones are joined into a tensor that becomes the
        first input of the next step: the same bytes, and every TFLite runtime can prepare each step."""
        opts = options("ConcatenationOptions", Axis=axis, FusedActivationFunction=Act.NONE)
        while len(inputs) > MAX_CONCAT_INPUTS:
            head = inputs[:MAX_CONCAT_INPUTS]
            shape = list(self.shape_of(head[0]))
            shape[axis] = sum(self.shape_of(i)[axis] for i in head)
            joined = self.like(dst, self.model.tensors[dst].name + "_joined", tuple(shape))
            self.op(B.CONCATENATION, head, [joined], opts)
            inputs = [joined, *inputs[MAX_CONCAT_INPUTS:]]
        self.op(B.CONCATENATION, inputs, [dst], opts)

    def requantize(self, src: int, dst: int) -> None:
        """QUANTIZE int8 -> int8 (TFLite's Requantize: multiplier s_in/s_out, then + zp_out)."""
        self.op(B.QUANTIZE, [src], [dst], options("QuantizeOptions"))

    def into(self, node: Node, quant_from: int) -> tuple:
        """Destination for an op that keeps its input's quantization (pools, reshape, pad...).

        Returns ``(dst, finish)``: the op writes ``dst``; ``finish()`` requantizes into the node's
        output when its quantization differs from the input's.
        """
        out = self.output(node)
        src_q, out_q = self.quant_of(quant_from), self.quant_of(out)
        if src_q is None or out_q is None or _same_quant(src_q, out_q):
            return out, lambda: None
        tmp = self.like(quant_from, node.output + "_same_scale", self.shape_of(out))
        return tmp, lambda: self.requantize(tmp, out)


def _same_quant(a: TflQuant, b: TflQuant) -> bool:
    return np.array_equal(a.scale, b.scale) and np.array_equal(a.zero_point, b.zero_point)
