"""The reference executor: runs an IR graph in numpy. Its outputs are the numerical spec.

A node runs its float kernel when its output tensor is float32, and its integer kernel (TFLite int8
semantics, ``int_kernels``) when the output is quantized. Every array carries the batch in
dimension 0, so any batch size runs.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..ir import Graph
from . import float_kernels
from .int_kernels import INT_KERNELS


def _run_node(graph: Graph, node, args: list) -> np.ndarray:
    out = graph.tensors[node.output]
    if out.dtype == "float32" and all(a is None or a.dtype.kind == "f" for a in args):
        kernel = float_kernels.KERNELS.get(node.op_name)
        if kernel is None:
            raise NotImplementedError(f"no float reference kernel for {node.op_name}")
        return np.asarray(kernel(node.op, *args), dtype=np.float32)
    kernel = INT_KERNELS.get(node.op_name)
    if kernel is None:
        raise NotImplementedError(f"no integer reference kernel for {node.op_name} (node {node.name})")
    return np.asarray(kernel(node, graph, *args), dtype=np.dtype(out.dtype))


def run(graph: Graph, inputs, keep: bool = False) -> dict:
    """Run ``graph`` on ``inputs`` (a dict by input name, or one array for a one-input graph).

    Returns the graph outputs by name; with ``keep``, every intermediate tensor too.
    """
    if not isinstance(inputs, dict):
        if len(graph.inputs) != 1:
            raise ValueError("graph has several inputs: pass a dict")
        inputs = {graph.inputs[0]: inputs}
    values = {}
    for name in graph.inputs:
        if name not in inputs:
            raise UserError(f"missing input {name}")
        t = graph.tensors[name]
        arr = np.asarray(inputs[name])
        if arr.shape[1:] != tuple(t.shape[1:]):
            raise UserError(f"input {name} has shape {arr.shape}, the model expects (N, {', '.join(map(str, t.shape[1:]))})")
        values[name] = arr.astype(np.dtype(t.dtype))
    for t in graph.constants():
        values[t.name] = t.data
    for node in graph.nodes:
        args = [None if i is None else values[i] for i in node.inputs]
        values[node.output] = _run_node(graph, node, args)
    if keep:
        return values
    return {name: values[name] for name in graph.outputs}


def run_single(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Run a one-input, one-output graph and return its output array."""
    return run(graph, x)[graph.outputs[0]]
