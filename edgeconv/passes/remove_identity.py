"""Remove nodes that pass their input through unchanged.

A node is a no-op when its output equals one of its inputs for every value of that input:

- ``Reshape`` to the shape it already has;
- ``Clip(None, None)``;
- ``Pad`` with all pads zero (whatever the value);
- ``Concat`` of a single input;
- ``MaxPool`` / ``AvgPool`` with kernel 1, stride 1 and no padding;
- ``GlobalAvgPool`` keeping dims over a map that is already 1 x 1;
- float ``Add`` of a constant of zeros, float ``Mul`` by a constant of ones, without clamp and
  when the constant does not broadcast the other input to a larger shape.

The passed-through tensor must also have the output's shape, dtype and quantization, so no
requantization hides behind a removed node. Removing such a node is exact (bit-identical), except
that ``-0.0 + 0.0`` gives ``+0.0``, equal as a number.

When the removed node's output is a graph output, the producer of its input writes the output
tensor instead (the model keeps its output names); a node between a graph input and a graph
output, or whose input is itself a graph output, stays.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from ..ir import Graph, Node, verify
from . import rewire


def _same_shape(graph: Graph, node: Node) -> Optional[str]:
    x = node.inputs[0]
    return x if graph.tensors[x].shape == graph.tensors[node.output].shape else None


def _unbounded_clip(graph: Graph, node: Node) -> Optional[str]:
    return node.inputs[0] if node.op.lo is None and node.op.hi is None else None


def _zero_pad(graph: Graph, node: Node) -> Optional[str]:
    return node.inputs[0] if not any(node.op.pads) else None


def _single_concat(graph: Graph, node: Node) -> Optional[str]:
    return node.inputs[0] if len(node.inputs) == 1 else None


def _unit_pool(graph: Graph, node: Node) -> Optional[str]:
    op = node.op
    unit = all(k == 1 for k in op.kernel) and all(s == 1 for s in op.stride) and not any(op.pads)
    return node.inputs[0] if unit else None


def _global_pool_of_one(graph: Graph, node: Node) -> Optional[str]:
    x = node.inputs[0]
    spatial = graph.tensors[x].shape[2:]
    return x if node.op.keepdims and all(d == 1 for d in spatial) else None


def _neutral_constant(neutral: float) -> Callable:
    """Rule for a float binary op whose constant operand is ``neutral`` everywhere."""

    def rule(graph: Graph, node: Node) -> Optional[str]:
        if node.op.clamp != (None, None) or graph.tensors[node.output].dtype != "float32":
            return None
        for const, other in (node.inputs, node.inputs[::-1]):
            data = graph.tensors[const].data
            if data is not None and graph.tensors[other].data is None and np.all(data == neutral):
                return other
        return None

    return rule


# op name -> rule giving the input a node passes through unchanged, or None when it is no no-op.
IDENTITY_RULES: dict = {
    "Reshape": _same_shape,
    "Clip": _unbounded_clip,
    "Pad": _zero_pad,
    "Concat": _single_concat,
    "MaxPool": _unit_pool,
    "AvgPool": _unit_pool,
    "GlobalAvgPool": _global_pool_of_one,
    "Add": _neutral_constant(0.0),
    "Mul": _neutral_constant(1.0),
}


def _passthrough(graph: Graph, node: Node) -> Optional[str]:
    rule = IDENTITY_RULES.get(node.op_name)
    source = rule(graph, node) if rule is not None else None
    if source is None:
        return None
    x, y = graph.tensors[source], graph.tensors[node.output]
    if x.shape != y.shape or x.dtype != y.dtype or x.quant != y.quant:
        return None
    return source


def _remove(graph: Graph, node: Node, source: str) -> bool:
    """Remove ``node`` whose output equals tensor ``source``; False when it must stay."""
    if node.output not in graph.outputs:
        graph.nodes.remove(node)
        rewire(graph, node.output, source)
        return True
    producer = graph.producer(source)
    if producer is None or source in graph.outputs:
        return False
    graph.nodes.remove(node)
    producer.output = node.output
    rewire(graph, source, node.output)
    return True


def run(graph: Graph) -> Graph:
    """Return a copy of ``graph`` without its no-op nodes."""
    out = graph.copy()
    for node in list(out.nodes):
        source = _passthrough(out, node)
        if source is not None:
            _remove(out, node, source)
    return verify(out.prune())
