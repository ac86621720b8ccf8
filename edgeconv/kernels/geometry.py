"""The shape facts of a Conv (1-D convs are seen as H = 1), ConvTranspose or Linear layer, batch 1:
what the kernels' fit tests, scratch sizes and cost models read."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..ir import Graph, Node
from ..ir.ops import Conv, ConvTranspose, Linear


@dataclass(frozen=True)
class LayerGeometry:
    op: str
    c_in: int
    c_out: int
    groups: int
    kernel: tuple
    stride: tuple
    pads: tuple
    dilation: tuple
    in_spatial: tuple
    out_spatial: tuple
    has_bias: bool

    @property
    def out_positions(self) -> int:
        return math.prod(self.out_spatial)

    @property
    def reduction(self) -> int:
        """Products summed per output value: ``C_in / groups * prod(kernel)``."""
        return self.c_in // self.groups * math.prod(self.kernel)

    @property
    def macs(self) -> int:
        """Products computed: each output's window, or for a transposed conv each input's (its
        scatter reaches ``prod(kernel)`` outputs per output channel)."""
        positions = math.prod(self.in_spatial) if self.op == ConvTranspose.NAME else self.out_positions
        return self.c_out * positions * self.reduction

    @property
    def params(self) -> int:
        return self.c_out * self.reduction

    @property
    def is_depthwise(self) -> bool:
        """One group per input channel, any channel multiplier (C_out = multiplier * C_in)."""
        return self.op == "Conv" and self.groups > 1 and self.groups == self.c_in

    @property
    def is_pointwise(self) -> bool:
        """1x1, stride 1, no padding, groups 1: a plain GEMM over positions."""
        return (
            self.op == "Conv" and self.groups == 1 and all(k == 1 for k in self.kernel)
            and all(s == 1 for s in self.stride) and not any(self.pads)
        )

    @property
    def kernel_hw(self) -> tuple:
        """(k_h, k_w) as the 2-D kernels see it: a 1-D conv runs as 1 x k."""
        return (1,) * (2 - len(self.kernel)) + tuple(self.kernel)

    @property
    def out_hw(self) -> tuple:
        """(out_h, out_w) as the 2-D kernels see it: a 1-D conv's output is one row."""
        return (1,) * (2 - len(self.out_spatial)) + tuple(self.out_spatial)

    @property
    def window_extent(self) -> tuple:
        """(rows, columns) of the (padded) input the output's windows span:
        ``(out - 1) * stride + dilation * (k - 1) + 1`` per axis, a 1-D conv as one row."""
        def pad2(values: tuple) -> tuple:
            return (1,) * (2 - len(values)) + tuple(values)

        return tuple((o - 1) * s + d * (k - 1) + 1 for o, s, d, k in zip(
            self.out_hw, pad2(self.stride), pad2(self.dilation), self.kernel_hw))

    @property
    def in_numel(self) -> int:
        return self.c_in * math.prod(self.in_spatial)

    @property
    def out_numel(self) -> int:
        return self.c_out * self.out_positions


def geometry(graph: Graph, node: Node) -> LayerGeometry:
    """Geometry of a Conv or Linear node from its tensors' shapes."""
    x = graph.tensors[node.inputs[0]].shape
    w = graph.tensors[node.inputs[1]].shape
    out = graph.tensors[node.output].shape
    has_bias = len(node.inputs) > 2 and node.inputs[2] is not None
    if isinstance(node.op, Linear):
        return LayerGeometry(Linear.NAME, w[1], w[0], 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), (1, 1), (1, 1), has_bias)
    if isinstance(node.op, ConvTranspose):
        op = node.op
        return LayerGeometry(ConvTranspose.NAME, x[1], w[0], op.groups, tuple(w[2:]), tuple(op.stride), tuple(op.pads),
                             (1, 1), tuple(x[2:]), tuple(out[2:]), has_bias)
    if not isinstance(node.op, Conv):
        raise ValueError(f"node {node.name} ({node.op_name}) has no weights")
    op = node.op
    return LayerGeometry(
        Conv.NAME, x[1], w[0], op.groups, tuple(w[2:]), tuple(op.stride), tuple(op.pads), tuple(op.dilation),
        tuple(x[2:]), tuple(out[2:]), has_bias,
    )
