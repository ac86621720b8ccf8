"""Graph passes: each module offers ``run(graph, ...)`` and returns a new graph.

A pass never mutates its argument: it works on ``graph.copy()`` and verifies the result with
``edgeconv.ir.verify``. The float clean-up order lives in ``pipeline.prepare``. Two passes adapt
a float graph to its low-bit layers and take the names of those layers as well
(``binarize_relu_inputs``, ``rescale_for_dorefa``); quantization runs them
(``quant.quantize_graph.prepare_for_quantization``).

This package module also holds the few graph edits every pass shares.
"""

from __future__ import annotations

from ..ir import Graph, Node


def is_float_node(graph: Graph, node: Node) -> bool:
    """True when ``node`` is an fp32 layer whose activation input and output are float32."""
    x = node.inputs[0]
    return (
        node.precision == "fp32"
        and graph.tensors[node.output].dtype == "float32"
        and (x is None or graph.tensors[x].dtype == "float32")
    )


def sole_consumer(graph: Graph, tensor_name: str):
    """The one node reading ``tensor_name`` when it is not a graph output, else None."""
    if tensor_name in graph.outputs:
        return None
    readers = graph.consumers(tensor_name)
    return readers[0] if len(readers) == 1 else None


def is_weighted_reader(node: Node, name: str) -> bool:
    """True when ``node`` is a weighted layer (``Op.WEIGHTED``) whose activation input is tensor
    ``name``, which is none of its other operands."""
    return node.op.WEIGHTED and node.inputs[0] == name and name not in node.inputs[1:]


def rewire(graph: Graph, old: str, new: str) -> None:
    """Make every node input and graph output that reads tensor ``old`` read ``new`` instead."""
    for node in graph.nodes:
        node.inputs = [new if name == old else name for name in node.inputs]
    graph.outputs = [new if name == old else name for name in graph.outputs]


def bypass(graph: Graph, node: Node) -> None:
    """Remove ``node`` and let its producer write the node's output tensor in its place.

    The surviving tensor keeps the removed node's output name, so graph outputs and later
    consumers are untouched. The producer's old output tensor must have ``node`` as its only
    reader (callers check with ``sole_consumer``).
    """
    producer = graph.producer(node.inputs[0])
    producer.output = node.output
    graph.nodes.remove(node)
    graph.prune()
