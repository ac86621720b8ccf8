"""An in-memory TFLite model (one subgraph) and its serialization to the flatbuffer schema.

The lowering appends tensors and operators here; ``serialize`` writes them with the builder
functions of the ``tflite`` schema package. Buffer 0 is the empty buffer every activation tensor
points to, as TFLite's converter writes it. Constant data is stored little-endian in its buffer.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Callable, Optional

import flatbuffers
import numpy as np
import tflite

# The schema package re-exports each table's class under the module's name: take the modules.
Buffer, Metadata, Model, Operator, OperatorCode, QuantizationParameters, SubGraph, Tensor = (
    importlib.import_module(f"tflite.{name}") for name in (
        "Buffer", "Metadata", "Model", "Operator", "OperatorCode", "QuantizationParameters",
        "SubGraph", "Tensor"))

TFLITE_SCHEMA_VERSION = 3

NUMPY_TO_TFLITE_TYPE = {
    "float32": tflite.TensorType.FLOAT32,
    "int8": tflite.TensorType.INT8,
    "int32": tflite.TensorType.INT32,
    "int64": tflite.TensorType.INT64,
    "uint8": tflite.TensorType.UINT8,
    "bool": tflite.TensorType.BOOL,
}

# Builds an options table and returns (BuiltinOptions type, offset).
OptionsBuilder = Callable[[flatbuffers.Builder], tuple]


@dataclass
class TflQuant:
    """Quantization of one TFLite tensor; ``dimension`` is the quantized axis (per-channel)."""

    scale: np.ndarray
    zero_point: np.ndarray
    dimension: int = 0


@dataclass
class TflTensor:
    name: str
    shape: tuple
    dtype: str
    quant: Optional[TflQuant] = None
    data: Optional[np.ndarray] = None


@dataclass
class TflOperator:
    builtin: int
    version: int
    inputs: list
    outputs: list
    options: Optional[OptionsBuilder] = None


@dataclass
class FlatModel:
    """Tensors, operators, graph ends and metadata of a single-subgraph TFLite model."""

    tensors: list = field(default_factory=list)
    operators: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    description: str = "edgeconv"

    def add_tensor(self, tensor: TflTensor) -> int:
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    def add_operator(self, builtin: int, version: int, inputs: list, outputs: list,
                     options: Optional[OptionsBuilder] = None) -> None:
        self.operators.append(TflOperator(builtin, version, list(inputs), list(outputs), options))

    def serialize(self) -> bytes:
        return _Serializer(self).run()


class _Serializer:
    """Writes a FlatModel bottom-up, as flatbuffers requires (children before parents)."""

    def __init__(self, model: FlatModel) -> None:
        self.model = model
        self.b = flatbuffers.Builder(1024)
        self.buffers: list = [None]  # buffer 0: empty

    def run(self) -> bytes:
        b, m = self.b, self.model
        codes = sorted({(op.builtin, op.version) for op in m.operators})
        code_index = {c: i for i, c in enumerate(codes)}
        tensor_offsets = [self._tensor(t) for t in m.tensors]
        operator_offsets = [self._operator(op, code_index[(op.builtin, op.version)]) for op in m.operators]
        metadata_entries = []
        for name, value in m.metadata.items():
            self.buffers.append(np.frombuffer(json.dumps(value, sort_keys=True).encode(), dtype=np.uint8))
            metadata_entries.append((name, len(self.buffers) - 1))

        subgraph = self._subgraph(tensor_offsets, operator_offsets)
        code_offsets = [self._operator_code(builtin, version) for builtin, version in codes]
        buffer_offsets = [self._buffer(data) for data in self.buffers]
        metadata_offsets = [self._metadata(name, index) for name, index in metadata_entries]
        description = b.CreateString(m.description)

        codes_vec = self._vector(Model.StartOperatorCodesVector, code_offsets)
        subgraphs_vec = self._vector(Model.StartSubgraphsVector, [subgraph])
        buffers_vec = self._vector(Model.StartBuffersVector, buffer_offsets)
        metadata_vec = self._vector(Model.StartMetadataVector, metadata_offsets)
        Model.Start(b)
        Model.AddVersion(b, TFLITE_SCHEMA_VERSION)
        Model.AddOperatorCodes(b, codes_vec)
        Model.AddSubgraphs(b, subgraphs_vec)
        Model.AddDescription(b, description)
        Model.AddBuffers(b, buffers_vec)
        Model.AddMetadata(b, metadata_vec)
        b.Finish(Model.End(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    def _vector(self, start, offsets: list) -> int:
        start(self.b, len(offsets))
        for off in reversed(offsets):
            self.b.PrependUOffsetTRelative(off)
        return self.b.EndVector()

    def _numbers(self, values, kind: str) -> int:
        return self.b.CreateNumpyVector(np.asarray(values, dtype=kind))

    def _quant(self, q: TflQuant) -> int:
        b = self.b
        scale = self._numbers(q.scale, "<f4")
        zero_point = self._numbers(q.zero_point, "<i8")
        QuantizationParameters.Start(b)
        QuantizationParameters.AddScale(b, scale)
        QuantizationParameters.AddZeroPoint(b, zero_point)
        QuantizationParameters.AddQuantizedDimension(b, q.dimension)
        return QuantizationParameters.End(b)

    def _tensor(self, t: TflTensor) -> int:
        b = self.b
        buffer_index = 0
        if t.data is not None:
            self.buffers.append(np.ascontiguousarray(t.data).view(np.uint8).reshape(-1))
            buffer_index = len(self.buffers) - 1
        name = b.CreateString(t.name)
        shape = self._numbers(t.shape, "<i4")
        quant = self._quant(t.quant) if t.quant is not None else None
        Tensor.Start(b)
        Tensor.AddShape(b, shape)
        Tensor.AddType(b, NUMPY_TO_TFLITE_TYPE[t.dtype])
        Tensor.AddBuffer(b, buffer_index)
        Tensor.AddName(b, name)
        if quant is not None:
            Tensor.AddQuantization(b, quant)
        return Tensor.End(b)

    def _operator(self, op: TflOperator, code_index: int) -> int:
        b = self.b
        inputs = self._numbers(op.inputs, "<i4")
        outputs = self._numbers(op.outputs, "<i4")
        options = op.options(b) if op.options is not None else None
        Operator.Start(b)
        Operator.AddOpcodeIndex(b, code_index)
        Operator.AddInputs(b, inputs)
        Operator.AddOutputs(b, outputs)
        if options is not None:
            Operator.AddBuiltinOptionsType(b, options[0])
            Operator.AddBuiltinOptions(b, options[1])
        return Operator.End(b)

    def _subgraph(self, tensors: list, operators: list) -> int:
        b, m = self.b, self.model
        tensors_vec = self._vector(SubGraph.StartTensorsVector, tensors)
        operators_vec = self._vector(SubGraph.StartOperatorsVector, operators)
        inputs = self._numbers(m.inputs, "<i4")
        outputs = self._numbers(m.outputs, "<i4")
        name = b.CreateString("main")
        SubGraph.Start(b)
        SubGraph.AddTensors(b, tensors_vec)
        SubGraph.AddInputs(b, inputs)
        SubGraph.AddOutputs(b, outputs)
        SubGraph.AddOperators(b, operators_vec)
        SubGraph.AddName(b, name)
        return SubGraph.End(b)

    def _operator_code(self, builtin: int, version: int) -> int:
        b = self.b
        OperatorCode.Start(b)
        # Codes above 127 live only in builtin_code; the deprecated byte then holds the
        # placeholder 127 (PLACEHOLDER_FOR_GREATER_OP_CODES), as TFLite's converter writes.
        OperatorCode.AddDeprecatedBuiltinCode(b, min(builtin, 127))
        OperatorCode.AddBuiltinCode(b, builtin)
        OperatorCode.AddVersion(b, version)
        return OperatorCode.End(b)

    def _buffer(self, data: Optional[np.ndarray]) -> int:
        b = self.b
        vec = None
        if data is not None and data.size:
            b.StartVector(1, data.size, 16)  # 16-byte aligned constant data
            b.head = b.head - data.size
            b.Bytes[b.head:b.head + data.size] = data.tobytes()
            vec = b.EndVector()
        Buffer.Start(b)
        if vec is not None:
            Buffer.AddData(b, vec)
        return Buffer.End(b)

    def _metadata(self, name: str, buffer_index: int) -> int:
        b = self.b
        name_off = b.CreateString(name)
        Metadata.Start(b)
        Metadata.AddName(b, name_off)
        Metadata.AddBuffer(b, buffer_index)
        return Metadata.End(b)
