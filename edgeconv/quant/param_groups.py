"""The activation params of a graph to quantize: tensors that must share one QuantParams, and the
params each such group takes.

Ops whose int8 kernels need the same params on input and output (``Op.KEEPS_GRID``: MaxPool,
AvgPool, GlobalAvgPool, Reshape, Pad, Concat — TFLite's rule) and a standalone Clip (a clamp of
raw int8 values, exact on every runtime) tie their tensors into one group that shares a single
QuantParams. A group's params are, in order of priority: a fixed grid (``Op.FIXED_GRID``: binary
for a Sign output, probability for a Softmax/Sigmoid output: scale 1/256, zp -128), DoReFa (a
``wKaM`` layer reads it), else asymmetric int8 over the union of its members' calibrated ranges.
A member produced with a fused clamp has its range clipped by the clamp, and a fully bounded clamp
(ReLU6, Hardtanh) gives the range exactly (ReLU6 -> [0, 6]).
"""

from __future__ import annotations

from typing import Mapping, Optional

from ..errors import UserError
from ..ir import Graph, Node, QuantParams
from ..ir import ops
from .calibrate import Range
from .precision import Precision
from .quantizers import asymmetric_params, binary_params, dorefa_params, probability_params

# The params of each fixed output grid (``Op.FIXED_GRID``).
FIXED_GRID_PARAMS = {"binary": binary_params, "probability": probability_params}


def _shares_input_params(op: ops.Op) -> bool:
    """Whether ``op``'s output joins its inputs' params group: ops whose integer kernels keep the
    input's quantization (``KEEPS_GRID``), and a standalone int8 Clip, which is then a clamp of raw
    values (exact on every runtime: MAXIMUM/MINIMUM, TFLite's RELU6 kernel), where differing params
    would need TFLite's requantizing RELU, which only some clamp ranges have."""
    return op.KEEPS_GRID or isinstance(op, ops.Clip)


class _Groups:
    """Union-find over tensor names: tensors that must share one QuantParams."""

    def __init__(self):
        self.parent = {}

    def find(self, name: str) -> str:
        self.parent.setdefault(name, name)
        while self.parent[name] != name:
            self.parent[name] = self.parent[self.parent[name]]
            name = self.parent[name]
        return name

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)

    def members(self) -> dict:
        out = {}
        for name in list(self.parent):
            out.setdefault(self.find(name), []).append(name)
        return out


def _clamp_of(node: Optional[Node]) -> tuple:
    if node is None:
        return (None, None)
    if isinstance(node.op, ops.Clip):
        return (node.op.lo, node.op.hi)
    return getattr(node.op, "clamp", (None, None))


def _member_range(name: str, producer: Optional[Node], ranges: Mapping[str, Range]) -> Range:
    lo, hi = _clamp_of(producer)
    if lo is not None and hi is not None:
        return Range(float(lo), float(hi))
    if name not in ranges:
        raise UserError(f"no calibration range for tensor {name}")
    r = ranges[name]
    return Range(r.lo if lo is None else max(r.lo, lo), r.hi if hi is None else min(r.hi, hi))


def _only_dorefa_readers(graph: Graph, precisions: Mapping[str, Precision], members: list, act_bits: int) -> bool:
    """True when every reader of every tensor of a params group is a DoReFa layer with
    ``act_bits``-bit inputs or an op that shares its params; a group other layers also read
    (a residual stream, the input of a squeeze-excitation's pool and multiply) keeps its int8
    grid and the DoReFa layer reads a requantized copy of it."""
    for name in members:
        for reader in graph.consumers(name):
            if reader.op.KEEPS_GRID:
                continue
            p = precisions[reader.name]
            if p.kind != "dorefa" or p.act_bits != act_bits:
                return False
    return True


def group_params(graph: Graph, precisions: Mapping[str, Precision], ranges: Mapping[str, Range]) -> dict:
    """Tensor name -> QuantParams for every activation a quantized layer of ``graph`` reads or
    writes (see the module docstring); ``precisions``: node name -> resolved precision."""
    groups = _Groups()
    dorefa_bits = {}
    fixed = {}
    for node in graph.nodes:
        precision = precisions[node.name]
        if not precision.quantized:
            continue
        acts = [i for i in node.inputs if i is not None and not graph.tensors[i].is_constant]
        for name in acts + [node.output]:
            groups.find(name)
        if _shares_input_params(node.op):
            for name in acts:
                groups.union(name, node.output)
        if node.op.FIXED_GRID is not None:
            fixed[node.output] = FIXED_GRID_PARAMS[node.op.FIXED_GRID]()
        if precision.kind == "dorefa":
            dorefa_bits[node.inputs[0]] = precision.act_bits
    producers = {n.output: n for n in graph.nodes}

    def params_for(members: list) -> QuantParams:
        for m in members:
            if m in fixed:
                return fixed[m]
        for m in members:
            if m in dorefa_bits and _only_dorefa_readers(graph, precisions, members, dorefa_bits[m]):
                return dorefa_params(dorefa_bits[m])
        spans = [_member_range(m, producers.get(m), ranges) for m in members]
        return asymmetric_params(min(r.lo for r in spans), max(r.hi for r in spans))

    params = {}
    for members in groups.members().values():
        params.update({m: params_for(members) for m in members})
    return params
