"""IR graph -> .tflite flatbuffer (no TensorFlow needed).

Float graphs become float32 models. Quantized graphs become full-integer models: the boundary
nodes of the IR convention (float input -> Quantize, Dequantize -> float output) are dropped and
their int8 tensors become the model's inputs and outputs, with their quantization parameters.
Activations are channels-last (see ``layout``). The edgeconv version and the caller's settings are
stored as JSON in the model's metadata entry ``"edgeconv"``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ... import __version__
from ...errors import UserError
from ...ir import Graph, ops
from .lowering import Lowering
from .op_table import OP_WRITERS

METADATA_NAME = "edgeconv"


@dataclass(frozen=True)
class ModelIO:
    """IR tensors that are the .tflite model's inputs and outputs, and the boundary nodes dropped."""

    inputs: tuple
    outputs: tuple
    dropped_nodes: frozenset


def model_io(graph: Graph) -> ModelIO:
    """Which IR tensors a .tflite written from ``graph`` takes and returns.

    A float graph input read only by one float -> int8 Quantize is replaced by that Quantize's
    output; a graph output made by an int8 -> float Dequantize is replaced by its int8 input.
    """
    inputs, outputs, dropped = [], [], set()
    for name in graph.inputs:
        readers = graph.consumers(name)
        if (graph.tensors[name].dtype == "float32" and len(readers) == 1
                and isinstance(readers[0].op, ops.Quantize) and graph.tensors[readers[0].output].dtype == "int8"):
            inputs.append(readers[0].output)
            dropped.add(readers[0].name)
        else:
            inputs.append(name)
    for name in graph.outputs:
        maker = graph.producer(name)
        if (maker is not None and isinstance(maker.op, ops.Dequantize) and not graph.consumers(name)
                and graph.tensors[maker.inputs[0]].dtype == "int8"):
            outputs.append(maker.inputs[0])
            dropped.add(maker.name)
        else:
            outputs.append(name)
    return ModelIO(tuple(inputs), tuple(outputs), frozenset(dropped))


def build_tflite(graph: Graph, metadata: dict | None = None) -> bytes:
    """The .tflite bytes for ``graph``; raises UserError naming every op it cannot write."""
    unsupported = sorted({f"{n.op_name} ({n.name})" for n in graph.nodes if n.op_name not in OP_WRITERS})
    if unsupported:
        raise UserError(f"the TFLite writer does not support: {', '.join(unsupported)}")
    io = model_io(graph)
    lower = Lowering(graph)
    for name in io.inputs:
        lower.activation(name)
    for node in graph.nodes:
        if node.name not in io.dropped_nodes:
            OP_WRITERS[node.op_name](lower, node)
    lower.model.inputs = [lower.index[name] for name in io.inputs]
    lower.model.outputs = [lower.activation(name) for name in io.outputs]
    lower.model.metadata = {METADATA_NAME: {"edgeconv_version": __version__, **(metadata or {})}}
    lower.model.description = f"edgeconv {__version__}: {graph.name}"
    return lower.model.serialize()


def write_tflite(graph: Graph, path, metadata: dict | None = None) -> Path:
    """Write ``graph`` as a .tflite file at ``path`` (atomically: temporary file, then rename)."""
    path = Path(path)
    data = build_tflite(graph, metadata)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
