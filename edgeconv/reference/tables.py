"""The 256-entry table of an int8 -> int8 per-element op, read off its integer reference kernel.

An op whose int8 output depends only on the one int8 code at the same position (activations,
an int8 -> int8 Quantize) is a function of 256 codes: ``table[q + 128]`` is the reference
kernel's output for input code ``q``. Backends that store such an op as a lookup (the C kernel
``ec_s8_lut``, an ONNX ``Gather``) carry this table, so they compute the reference's bytes.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .int_kernels import INT_KERNELS


def int8_table(graph: Graph, node: Node) -> np.ndarray:
    """The table of int8 -> int8 elementwise ``node``, indexed by ``q + 128``."""
    kernel = INT_KERNELS.get(node.op_name)
    if kernel is None:
        raise ValueError(f"no integer reference kernel for {node.op_name} to build its table from")
    x = graph.tensors[node.inputs[0]]
    codes = np.arange(-128, 128, dtype=np.int8).reshape((256,) + (1,) * (len(x.shape) - 1))
    table = np.asarray(kernel(node, graph, codes)).reshape(-1)
    if table.size != 256:
        raise ValueError(f"{node.op_name} is not elementwise")
    return table.astype(np.int8)
