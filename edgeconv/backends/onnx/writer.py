"""IR graph -> .onnx (opset 21) with ``onnx.helper``: float models, and QDQ models for quantized
graphs (QuantizeLinear/DequantizeLinear around float ops on uint8 codes, per-channel uint8 or int4
weights, int32 biases; ``emitter`` says why uint8). NCHW like the IR, batch dimension symbolic. Float graph ends stay float; an int8 graph
input (imported full-integer model) is dequantized inside, an int8 output quantized at the end
into ``<name>_int8``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from ... import __version__
from ...errors import UserError
from ...ir import Graph
from .emitter import Emitter, value_info
from .op_table import OP_WRITERS

OPSET = 21
IR_VERSION = 10
METADATA_KEY = "edgeconv"


def _graph_input(e: Emitter, name: str) -> onnx.ValueInfoProto:
    t = e.graph.tensors[name]
    if t.dtype == "int8":  # an int8 interface, moved onto the uint8 codes the graph computes with
        dequantized = e.unique(name + "_dequantized")
        float_name = e.unique(name + "_uint8")
        e.renamed[name] = float_name
        q = t.quant
        e.add("DequantizeLinear", [name, e.scalar(name + "_scale", float(q.scale[0])),
                                   e.initializer(name + "_zero_point", np.array(int(q.zero_point[0]), dtype=np.int8))],
              [dequantized])
        e.quantize_dequantize(dequantized, float_name, q)
    return value_info(name, t.dtype, t.shape)


def _graph_output(e: Emitter, name: str) -> onnx.ValueInfoProto:
    t = e.graph.tensors[name]
    if t.dtype != "int8":
        return value_info(name, t.dtype, t.shape)
    q = t.quant
    out = e.unique(name + "_int8")
    e.add("QuantizeLinear", [name, e.scalar(out + "_scale", float(q.scale[0])),
                             e.initializer(out + "_zero_point", np.array(int(q.zero_point[0]), dtype=np.int8))], [out])
    return value_info(out, "int8", t.shape)


def build_onnx(graph: Graph, metadata: dict | None = None) -> onnx.ModelProto:
    """The ONNX model for ``graph``; raises UserError naming every op it cannot write."""
    unsupported = sorted({f"{n.op_name} ({n.name})" for n in graph.nodes if n.op_name not in OP_WRITERS})
    if unsupported:
        raise UserError(f"the ONNX writer does not support: {', '.join(unsupported)}")
    e = Emitter(graph)
    inputs = [_graph_input(e, name) for name in graph.inputs]
    for node in graph.nodes:
        OP_WRITERS[node.op_name](e, node)
    outputs = [_graph_output(e, name) for name in graph.outputs]
    onnx_graph = helper.make_graph(e.nodes, graph.name, inputs, outputs, initializer=e.initializers)
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="edgeconv", producer_version=__version__)
    model.ir_version = IR_VERSION
    settings = {"edgeconv_version": __version__, **(metadata or {})}
    helper.set_model_props(model, {METADATA_KEY: json.dumps(settings, sort_keys=True)})
    return model


def write_onnx(graph: Graph, path, metadata: dict | None = None) -> Path:
    """Write ``graph`` as .onnx at ``path`` (atomically), checked with the full ONNX checker."""
    path = Path(path)
    model = build_onnx(graph, metadata)
    onnx.checker.check_model(model, full_check=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(model.SerializeToString())
    os.replace(tmp, path)
    return path
