"""The intermediate representation shared by every frontend, pass, executor and backend."""

from .graph import Graph, Node
from .ops import OPS, Op, ShapeError
from .printer import format_graph
from .tensor import QuantParams, Tensor
from .verify import GraphError, infer_shapes, verify

__all__ = [
    "Graph", "Node", "Op", "OPS", "ShapeError", "QuantParams", "Tensor",
    "GraphError", "infer_shapes", "verify", "format_graph",
]
