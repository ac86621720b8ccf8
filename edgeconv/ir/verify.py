"""Graph verifier and shape inference.

``infer_shapes`` recomputes every activation shape from the graph inputs with each op's rule and
checks it against the stored one; ``verify`` also checks names, order and input arity.
"""

from __future__ import annotations

from .graph import Graph
from .ops import ShapeError


class GraphError(ValueError):
    """The graph is malformed: the message names the node or tensor at fault."""


def infer_shapes(graph: Graph, update: bool = True) -> Graph:
    """Propagate shapes from the graph inputs through every node in order.

    With ``update`` the stored output shapes are replaced; without it, a mismatch is an error.
    """
    for node in graph.nodes:
        shapes = [None if i is None else graph.tensors[i].shape for i in node.inputs]
        try:
            shape = node.op.infer(shapes)
        except ShapeError as exc:
            raise GraphError(f"node {node.name} ({node.op_name}): {exc}") from None
        out = graph.tensors[node.output]
        if update:
            out.shape = tuple(shape)
        elif tuple(out.shape) != tuple(shape):
            raise GraphError(f"node {node.name}: stored shape {out.shape} but the op gives {shape}")
    return graph


def verify(graph: Graph) -> Graph:
    """Check that the graph is well formed; raise GraphError naming the first fault."""
    defined = set(graph.inputs) | {t.name for t in graph.constants()}
    for name in graph.inputs:
        if name not in graph.tensors:
            raise GraphError(f"graph input {name} has no tensor")
    node_names = set()
    for node in graph.nodes:
        if node.name in node_names:
            raise GraphError(f"node name {node.name} used twice")
        node_names.add(node.name)
        slots = node.op.INPUTS
        if slots != ("*",):
            if len(node.inputs) > len(slots) or len(node.inputs) < len([s for s in slots if s != "bias"]):
                raise GraphError(f"node {node.name} ({node.op_name}) takes inputs {slots}, got {node.inputs}")
        for name in node.inputs:
            if name is None:
                continue
            if name not in graph.tensors:
                raise GraphError(f"node {node.name} reads unknown tensor {name}")
            if name not in defined:
                raise GraphError(f"node {node.name} reads {name} before it is computed")
        if node.output not in graph.tensors:
            raise GraphError(f"node {node.name} writes unknown tensor {node.output}")
        if node.output in defined:
            raise GraphError(f"tensor {node.output} is written twice")
        defined.add(node.output)
    for name in graph.outputs:
        if name not in defined:
            raise GraphError(f"graph output {name} is never computed")
    infer_shapes(graph, update=False)
    return graph
