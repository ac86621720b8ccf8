"""One-node graphs for comparing a C kernel with the reference executor's integer kernel."""

from __future__ import annotations

import numpy as np

from edgeconv.ir import Graph, Node, QuantParams, Tensor
from edgeconv.reference.int_kernels import INT_KERNELS


def one_node(op, inputs: dict, out_shape: tuple, out_quant, out_dtype="int8"):
    """Graph with tensors ``inputs`` (name -> (array, quant)) feeding ``op``; returns (graph, node)."""
    g = Graph()
    for name, (arr, quant) in inputs.items():
        g.add_tensor(Tensor(name, arr.shape, str(arr.dtype), quant=quant))
    g.add_tensor(Tensor("y", out_shape, out_dtype, quant=out_quant))
    node = Node("node", op, list(inputs), "y", precision="int8")
    g.add_node(node)
    return g, node


def reference(op, inputs: dict, out_quant, out_shape=None, out_dtype="int8") -> np.ndarray:
    shapes = [a.shape for a, _ in inputs.values()]
    out_shape = out_shape or op.infer(shapes)
    g, node = one_node(op, inputs, out_shape, out_quant, out_dtype)
    return INT_KERNELS[op.NAME](node, g, *[a for a, _ in inputs.values()])


def q(scale, zp, qmin=-128, qmax=127):
    return QuantParams(scale, zp, qmin=qmin, qmax=qmax)
