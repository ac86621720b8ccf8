"""The graph: tensors by name, nodes in topological order, named inputs and outputs.

The graph is a container with lookups; it holds no pass logic. Passes live in
``edgeconv/passes/`` as ``run(graph) -> graph`` functions and work on a copy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterator, Optional

from .ops import Op
from .tensor import Tensor


def _first_free(base: str, taken: set) -> str:
    if base not in taken:
        return base
    i = 1
    while f"{base}_{i}" in taken:
        i += 1
    return f"{base}_{i}"


@dataclass
class Node:
    """One operator application with a single output tensor.

    ``precision`` is the layer's numeric format (``fp32``, ``int8``, ``wKaM`` DoReFa, ``w1a1``
    XNOR); ``algorithm`` the kernel variant chosen for it; ``merged_from`` the source layers a
    merged conv replaces; ``source`` where the layer came from in the user's model.
    """

    name: str
    op: Op
    inputs: list
    output: str
    precision: str = "fp32"
    algorithm: Optional[str] = None
    merged_from: tuple = ()
    source: Optional[str] = None

    @property
    def op_name(self) -> str:
        return self.op.NAME

    def input(self, slot: str) -> Optional[str]:
        """Name of the tensor in input slot ``slot`` (see the op's ``INPUTS``), or None."""
        slots = self.op.INPUTS
        i = slots.index(slot)
        return self.inputs[i] if i < len(self.inputs) else None


@dataclass
class Graph:
    """A model: tensors, nodes (topologically ordered), inputs and outputs.

    ``source_layout`` is the activation layout of the model's own inputs and outputs
    (``NCHW`` for PyTorch and ONNX models, ``NHWC`` for imported TFLite models); the IR itself
    is always channels-first.
    """

    name: str = "model"
    tensors: dict = field(default_factory=dict)
    nodes: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    source_layout: str = "NCHW"
    metadata: dict = field(default_factory=dict)

    def add_tensor(self, tensor: Tensor) -> Tensor:
        if tensor.name in self.tensors:
            raise ValueError(f"tensor {tensor.name} defined twice")
        self.tensors[tensor.name] = tensor
        return tensor

    def add_node(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    def producer(self, tensor_name: str) -> Optional[Node]:
        for node in self.nodes:
            if node.output == tensor_name:
                return node
        return None

    def consumers(self, tensor_name: str) -> list:
        return [n for n in self.nodes if tensor_name in n.inputs]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def constants(self) -> Iterator[Tensor]:
        return (t for t in self.tensors.values() if t.is_constant)

    def is_quantized(self) -> bool:
        """Whether any tensor carries quantization parameters (an imported full-integer model)."""
        return any(t.quant is not None for t in self.tensors.values())

    def unique_name(self, base: str) -> str:
        """``base``, or ``base_<i>``, free among both tensor and node names."""
        return _first_free(base, set(self.tensors) | {n.name for n in self.nodes})

    def unique_tensor_name(self, base: str) -> str:
        """``base``, or ``base_<i>``, free among tensor names (nodes may share it)."""
        return _first_free(base, set(self.tensors))

    def unique_node_name(self, base: str) -> str:
        """``base``, or ``base_<i>``, free among node names (tensors may share it)."""
        return _first_free(base, {n.name for n in self.nodes})

    def prune(self) -> "Graph":
        """Drop tensors no node or graph end refers to."""
        used = set(self.inputs) | set(self.outputs)
        for n in self.nodes:
            used.update(i for i in n.inputs if i is not None)
            used.add(n.output)
        self.tensors = {k: v for k, v in self.tensors.items() if k in used}
        return self

    def copy(self) -> "Graph":
        return copy.deepcopy(self)
