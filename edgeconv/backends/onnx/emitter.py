"""The state shared by the per-op mappings while an IR graph is written as ONNX (QDQ form).

Every IR activation is an ONNX float tensor of the same name. An int8 IR tensor is the float
``DequantizeLinear(QuantizeLinear(v))`` of the value its op computes in float, so the ONNX graph
carries the same quantization grid (QDQ format): the op writes ``<name>_float``, which is clipped
to the tensor's occupied range ``[qmin, qmax]`` and the op's clamp, quantized to ``<name>_q``
and dequantized into ``<name>``. Constant weights are stored as integers with a per-channel
DequantizeLinear (axis 0); int32 biases likewise with scale ``s_in * s_w[c]``.

Every int8 code ``q`` (zero point ``zp``) is stored as the uint8 code ``q + 128`` with zero point
``zp + 128``: the same real value ``(q - zp) * s``. The reason is ONNX Runtime's x86 kernels
(MLAS): a fused int8 x int8 QLinearConv or QGemm runs as uint8 x int8, and on CPUs without
AVX-512 VNNI (AVX2, AVX-512BW) that product uses VPMADDUBSW, which saturates the sum of two
adjacent products to int16 (255 * 127 * 2 > 32767); with VNNI (VPDPBUSD) it does not, so the same
int8 model gave different results on different CPUs. uint8 x uint8 is computed on 16-bit lanes
with VPMADDWD (or VPDPWSSD), exact on every x86 ISA and on ARM. Weights that fit int4 stay int4:
ONNX Runtime dequantizes those and convolves in float, which the single-rounding storage keeps
exact on every ISA (``tests/unit/test_onnx_isa.py`` runs both forms under an AVX2-only CPU).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...ir import Graph, Node, QuantParams
from ...quant.activation_range import activation_range
from ...quant.single_rounding import f32, step_units, weight_steps

INT4_MIN, INT4_MAX = -8, 7
INT8_MIN, INT8_MAX = -128, 127
UINT8_OFFSET = 128  # int8 code q is stored as uint8 q + 128 (see the module docstring)


def as_uint8(codes) -> np.ndarray:
    """int8 codes (or zero points) as the uint8 codes of the same real values."""
    return (np.asarray(codes).astype(np.int16) + UINT8_OFFSET).astype(np.uint8)


@dataclass
class Emitter:
    graph: Graph
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    renamed: dict = field(default_factory=dict)  # IR tensor -> ONNX float tensor, where they differ
    _names: set = field(default_factory=set)

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self._names or name in self.graph.tensors:
            name = f"{base}_{i}"
            i += 1
        self._names.add(name)
        return name

    def add(self, op_type: str, inputs: list, outputs: list, **attrs) -> None:
        name = self.unique(f"{outputs[0]}_{op_type}")
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attrs))

    def initializer(self, base: str, array: np.ndarray) -> str:
        name = self.unique(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def int4_initializer(self, base: str, array: np.ndarray) -> str:
        name = self.unique(base)
        self.initializers.append(helper.make_tensor(name, TensorProto.INT4, array.shape,
                                                    array.astype(np.int8).reshape(-1).tolist()))
        return name

    def scalar(self, base: str, value: float) -> str:
        return self.initializer(base, np.array(value, dtype=np.float32))

    # --- values --------------------------------------------------------------------------------
    def value(self, name: str) -> str:
        """The ONNX float tensor holding IR tensor ``name`` (constants are dequantized here)."""
        t = self.graph.tensors[name]
        if not t.is_constant:
            return self.renamed.get(name, name)
        if t.quant is None:
            return self.initializer(name, t.data.astype(np.float32))
        return self.dequantized_constant(name, t.data, t.quant)

    def weight_and_bias(self, node: Node) -> list:
        """The ONNX float values of a Conv's or Linear's weight and (when present) bias.

        A low-bit layer stored with weight steps (``quant/single_rounding.py``: channel weights
        ``n * q`` with scale ``s / n``, bias ``n * b``) is written as ``q`` with scale ``s`` and bias
        ``b`` when that lets the weights fit int4 (division exact: the steps multiplied them).
        ONNX Runtime rounds ``acc * M`` once either way; only the storage shrinks.
        """
        w = self.graph.tensors[node.input("weight")]
        b = None if node.input("bias") is None else self.graph.tensors[node.input("bias")]
        steps = weight_steps(w.data) if w.dtype == "int8" and w.quant is not None else np.ones(1, np.int64)
        units = step_units(w.data) if steps.max() > 1 else None
        if (units is None or w.quant.axis != 0 or units.min() < INT4_MIN or units.max() > INT4_MAX
                or (b is not None and np.any(b.data.astype(np.int64) % steps))):
            return [self.value(w.name)] + ([] if b is None else [self.value(b.name)])
        scale = f32(w.quant.scale * steps)
        values = [self.dequantized_constant(w.name, units.astype(np.int8), dataclasses.replace(w.quant, scale=scale))]
        if b is not None:
            s_in = float(self.graph.tensors[node.input("x")].quant.scale[0])
            values.append(self.dequantized_constant(b.name, (b.data.astype(np.int64) // steps).astype(np.int32),
                                                    dataclasses.replace(b.quant, scale=s_in * scale)))
        return values

    def dequantized_constant(self, name: str, data: np.ndarray, quant: QuantParams) -> str:
        """Integer constant + DequantizeLinear; int4 storage where the values fit exactly."""
        axis = quant.axis
        scale = quant.scale.astype(np.float32) if axis is not None else np.float32(quant.scale[0])
        zp_values = quant.zero_point if axis is not None else quant.zero_point[0]
        fits_int4 = (data.dtype == np.int8 and not np.any(quant.zero_point)
                     and data.min(initial=0) >= INT4_MIN and data.max(initial=0) <= INT4_MAX)
        if fits_int4:
            stored = self.int4_initializer(name + "_int4", data)
            zero = self.int4_initializer(name + "_zero_point", np.zeros(np.shape(zp_values), dtype=np.int8))
        elif data.dtype == np.int8:
            stored = self.initializer(name + "_quantized", as_uint8(data))
            zero = self.initializer(name + "_zero_point", as_uint8(zp_values))
        else:
            stored = self.initializer(name + "_quantized", data)
            zero = self.initializer(name + "_zero_point", np.asarray(zp_values).astype(data.dtype))
        out = self.unique(name)
        attrs = {"axis": axis} if axis is not None else {}
        self.add("DequantizeLinear", [stored, self.initializer(name + "_scale", scale), zero], [out], **attrs)
        return out

    def result(self, node: Node, clamp: tuple = (None, None)) -> str:
        """Name the op's float result should take; ``finish(node, ...)`` then adds the QDQ."""
        out = self.graph.tensors[node.output]
        return node.output if out.quant is None and clamp == (None, None) else f"{node.output}_float"

    def finish(self, node: Node, clamp: tuple = (None, None), keeps_grid: bool = False) -> None:
        """Clamp and, for int8 outputs, QuantizeLinear -> DequantizeLinear into ``node.output``.

        ``keeps_grid``: the op only moves, picks or averages its inputs' values (pools, reshape,
        pad, concat), so with the output's quantization on every input the result already lies in
        ``[qmin, qmax]`` and needs no Clip before QuantizeLinear.
        """
        out = self.graph.tensors[node.output]
        src = f"{node.output}_float"
        if out.quant is None:
            if clamp != (None, None):
                self.clip(src, node.output, *clamp)
            return
        q = out.quant
        qlo, qhi = activation_range(clamp, q)
        activations = [self.graph.tensors[n] for n in node.inputs if n is not None and not self.graph.tensors[n].is_constant]
        if keeps_grid and all(t.quant == q for t in activations):
            qlo, qhi = INT8_MIN, INT8_MAX
        s, zp = float(q.scale[0]), int(q.zero_point[0])
        if (qlo, qhi) != (INT8_MIN, INT8_MAX):  # QuantizeLinear itself saturates to int8
            clipped = self.unique(f"{node.output}_clipped")
            self.clip(src, clipped, None if qlo == INT8_MIN else (qlo - zp) * s,
                      None if qhi == INT8_MAX else (qhi - zp) * s)
            src = clipped
        self.quantize_dequantize(src, node.output, q)

    def quantize_dequantize(self, src: str, dst: str, q: QuantParams) -> None:
        scale = self.scalar(dst + "_scale", float(q.scale[0]))
        zero = self.initializer(dst + "_zero_point", as_uint8(int(q.zero_point[0])))
        quantized = self.unique(dst + "_q")
        self.add("QuantizeLinear", [src, scale, zero], [quantized])
        self.add("DequantizeLinear", [quantized, scale, zero], [dst])

    def clip(self, src: str, dst: str, lo: Optional[float], hi: Optional[float]) -> None:
        if lo == 0.0 and hi is None:
            self.add("Relu", [src], [dst])
            return
        bounds = ["" if lo is None else self.scalar(dst + "_min", lo),
                  "" if hi is None else self.scalar(dst + "_max", hi)]
        while bounds and bounds[-1] == "":
            bounds.pop()
        self.add("Clip", [src, *bounds], [dst])


def value_info(name: str, dtype: str, shape: tuple) -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return helper.make_tensor_value_info(name, elem, ["N", *shape[1:]])
