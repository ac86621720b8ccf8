"""Per-layer analysis of a graph for ``inspect``: output shapes, parameter counts and MACs.

MACs are multiply-accumulates of the conv and linear layers, exact, for a batch of one:

- conv: ``prod(output spatial dims) * C_out * (C_in / groups) * prod(kernel)``;
- transposed conv: ``prod(input spatial dims) * C_out * C_in * prod(kernel)`` (every input value
  meets every tap of every output channel, the products that fall in the removed padding included);
- linear: ``in_features * out_features``.

Every other op counts 0 MACs (its arithmetic is elementwise or a reduction, not a MAC).
``params`` counts the elements of a node's constant inputs (weights, biases, batch-norm
statistics); activations are not parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .ir import Graph, Node


@dataclass(frozen=True)
class LayerInfo:
    name: str
    op: str
    output_shape: tuple
    params: int
    macs: int


def _conv_macs(graph: Graph, node: Node) -> int:
    out = graph.tensors[node.output].shape
    weight = graph.tensors[node.input("weight")].shape  # (C_out, C_in/groups, *kernel)
    return math.prod(out[2:]) * weight[0] * math.prod(weight[1:])


def _linear_macs(graph: Graph, node: Node) -> int:
    out_features, in_features = graph.tensors[node.input("weight")].shape
    return in_features * out_features


def _conv_transpose_macs(graph: Graph, node: Node) -> int:
    x = graph.tensors[node.inputs[0]].shape
    weight = graph.tensors[node.input("weight")].shape  # (C_out, C_in, *kernel)
    return math.prod(x[2:]) * math.prod(weight)


MAC_RULES = {"Conv": _conv_macs, "ConvTranspose": _conv_transpose_macs, "Linear": _linear_macs}


def node_macs(graph: Graph, node: Node) -> int:
    rule = MAC_RULES.get(node.op_name)
    return int(rule(graph, node)) if rule else 0


def node_params(graph: Graph, node: Node) -> int:
    return sum(graph.tensors[i].numel for i in node.inputs if i is not None and graph.tensors[i].is_constant)


def layer_table(graph: Graph) -> list:
    """One ``LayerInfo`` per node, in graph order (batch 1)."""
    return [
        LayerInfo(node.name, node.op_name, (1, *graph.tensors[node.output].shape[1:]),
                  node_params(graph, node), node_macs(graph, node))
        for node in graph.nodes
    ]


def total_macs(graph: Graph) -> int:
    return sum(node_macs(graph, node) for node in graph.nodes)


def total_params(graph: Graph) -> int:
    return sum(t.numel for t in graph.constants())
