"""What every frontend shares: the graph builder and the collection of unsupported ops.

A frontend walks its model once, in order, and turns each source op into IR nodes through a
``GraphBuilder``. An op it cannot map is not fatal at once: the builder records it (op name, node
name, source location, reason) and, when the op's output shape is known, puts a placeholder tensor
of that shape in for its result, so the walk goes on and checks the ops after it too. ``finish``
then reports every unsupported op of the model in one ``UserError``. When the shape is unknown the
result is marked unavailable and the nodes fed only by it are skipped, so no fault is reported twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import UserError
from ..ir import Graph, Node, Tensor, verify
from ..ir.ops import Op, ShapeError

# The layers a PyTorch or ONNX model may use, as a user knows them (printed with every refusal).
SUPPORTED_LAYERS = (
    "Conv1d/Conv2d (stride, zero padding incl. asymmetric, dilation, groups, depthwise)",
    "ConvTranspose2d (stride, padding, output_padding, groups incl. depthwise; dilation 1)",
    "BatchNorm1d/BatchNorm2d (eval)", "ReLU", "ReLU6", "LeakyReLU", "Hardtanh", "Hardswish",
    "Hardsigmoid", "Sigmoid", "SiLU", "GELU (erf or tanh; ONNX opset 20)", "add", "mul (with broadcast)", "cat",
    "MaxPool1d/MaxPool2d", "AvgPool1d/AvgPool2d", "AdaptiveAvgPool(1) / mean over spatial dims",
    "flatten/reshape/view (batch kept)", "permute/transpose (batch kept)",
    "chunk/split/narrow/slice (step 1, not the batch)", "nearest Upsample/interpolate (integer factors)", "bilinear Upsample/interpolate (no antialias)", "Linear", "Dropout/Identity", "constant pad", "Softmax",
)


class UnsupportedOp(Exception):
    """Raised by an op handler: this use of the op cannot be expressed in the IR."""


@dataclass(frozen=True)
class Unavailable:
    """The value of a source op that was not converted (it, or one of its inputs, is unsupported)."""


UNAVAILABLE = Unavailable()


@dataclass(frozen=True)
class Activation:
    """A value computed at run time: the name of its IR tensor."""

    name: str


@dataclass(frozen=True)
class Issue:
    """One unsupported op occurrence, as the user will read it."""

    op: str
    node: str
    source: Optional[str]
    reason: Optional[str]

    def describe(self) -> str:
        text = f"{self.op} at node '{self.node}'"
        if self.reason:
            text += f" ({self.reason})"
        if self.source:
            text += f", from {self.source}"
        return text


def exception_summary(exc: BaseException) -> str:
    """``Type: first line of the message``, or the type alone when the message is empty."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def unsupported_message(path: str, issues: list) -> str:
    ops = sorted({i.op for i in issues})
    lines = [
        f"{path}: {len(issues)} operation(s) cannot be converted ({', '.join(ops)}):",
        *(f"  - {i.describe()}" for i in issues),
        "Supported layers: " + ", ".join(SUPPORTED_LAYERS) + ".",
    ]
    return "\n".join(lines)


def module_path_name(components: list) -> str:
    """Join scope components into one dotted module path, without repeating prefixes.

    Exporters name scopes either by attribute (``layer1``, ``0``, ``conv1``) or by full path
    (``layer1``, ``layer1.0``, ``layer1.0.conv1``); both give ``layer1.0.conv1``.
    """
    path = ""
    for comp in components:
        if not comp:
            continue
        if not path or comp.startswith(path + "."):
            path = comp
        else:
            path = f"{path}.{comp}"
    return path


class GraphBuilder:
    """Builds an IR graph node by node, inferring each shape as it goes, and collects issues."""

    def __init__(self, name: str, path: str):
        self.graph = Graph(name=name, source_layout="NCHW", metadata={"source": path})
        self.path = path
        self.issues: list = []

    # -- values ---------------------------------------------------------------------------
    def add_input(self, name: str, shape: tuple) -> Activation:
        name = self.graph.unique_name(name)
        self.graph.add_tensor(Tensor(name, tuple(shape)))
        self.graph.inputs.append(name)
        return Activation(name)

    def add_constant(self, name: str, array) -> str:
        """Store a float32 constant (weights, bias, a scalar operand) and return its tensor name."""
        data = np.asarray(array, dtype=np.float32)
        if data.ndim == 0:
            data = data.reshape(1)
        existing = self.graph.tensors.get(name)
        if existing is not None and existing.is_constant and np.array_equal(existing.data, data):
            return name
        name = self.graph.unique_name(name)
        self.graph.add_tensor(Tensor(name, data.shape, data=data))
        return name

    def shape(self, value: Activation) -> tuple:
        return self.graph.tensors[value.name].shape

    def add_node(self, name: str, op: Op, inputs: list, source: Optional[str] = None) -> Activation:
        """Append ``op`` applied to ``inputs`` (tensor names, None = absent) as node ``name``."""
        name = self.graph.unique_name(name or op.NAME.lower())
        shapes = [None if i is None else self.graph.tensors[i].shape for i in inputs]
        try:
            shape = op.infer(shapes)
        except ShapeError as exc:
            raise UnsupportedOp(f"{op.NAME} cannot take shapes {shapes}: {exc}") from None
        self.graph.add_tensor(Tensor(name, tuple(shape)))
        self.graph.add_node(Node(name=name, op=op, inputs=list(inputs), output=name, source=source))
        return Activation(name)

    # -- problems -------------------------------------------------------------------------
    def report(self, op: str, node: str, source: Optional[str], reason: Optional[str] = None,
               shape: Optional[tuple] = None):
        """Record an unsupported op. When its output shape is known, return a stand-in tensor of
        that shape so the ops after it are still checked (and reported) in the same pass."""
        self.issues.append(Issue(op, node, source, reason))
        if shape is None or any(not isinstance(d, int) or d < 0 for d in shape):
            return UNAVAILABLE
        name = self.graph.unique_name(f"{node}.unsupported")
        self.graph.add_tensor(Tensor(name, (1, *shape[1:]) if shape else ()))
        return Activation(name)

    def finish(self, outputs: list) -> Graph:
        """Name the graph outputs, refuse the model if any op was unsupported, verify."""
        if self.issues:
            raise UserError(unsupported_message(self.path, self.issues))
        for value in outputs:
            if not isinstance(value, Activation):
                raise UserError(f"{self.path}: a model output is not computed from the input (constant output)")
            if value.name in self.graph.inputs:
                raise UserError(f"{self.path}: a model output is the input itself; there is nothing to convert")
            self.graph.outputs.append(value.name)
        if not self.graph.nodes:
            raise UserError(f"{self.path}: the model has no operations")
        return verify(self.graph.prune())


def batch_kept_shape(target: list, batch_values: tuple, in_shape: tuple, what: str) -> tuple:
    """Turn a reshape target ``(batch, *rest)`` into the IR's per-sample shape ``rest``.

    ``batch_values`` are the entries that mean "the batch" (-1, the traced batch size, a symbol).
    A reshape that mixes the batch with other dims cannot be expressed batch-agnostically.
    """
    if not target or target[0] not in batch_values:
        raise UnsupportedOp(f"{what} to {list(target)} changes the batch dimension")
    rest = tuple(int(d) for d in target[1:])
    if target[0] == -1 and -1 in rest:
        raise UnsupportedOp(f"{what} to {list(target)} leaves the batch size ambiguous")
    per_sample = int(np.prod(in_shape[1:]))
    known = int(np.prod([d for d in rest if d != -1])) if rest else 1
    if -1 not in rest and known != per_sample:
        raise UnsupportedOp(f"{what} to {list(target)} changes the batch dimension")
    if not rest:
        raise UnsupportedOp(f"{what} to {list(target)} drops every dimension but the batch")
    return rest
