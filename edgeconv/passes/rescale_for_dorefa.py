"""Fit the activations DoReFa layers read into ``[0, 1]`` without changing the float function.

DoReFa activations are ``clip(x, 0, 1)``. For each scale group (:func:`scale_group`) holding the
input of a DoReFa layer, with ``r`` the largest clip level of its DoReFa-read members, the
producers' weights, biases and clamps and the Add/Mul clamps are divided by ``r`` and the readers'
weights multiplied by ``r``. Conv, Linear, Add, Mul (in one input), clamps, pools and reshapes are
positively homogeneous (``f(x / r) = f(x) / r`` once the clamp bounds are divided too), so the
float outputs are unchanged while those inputs now reach 1 at ``r``; a residual stream (an Add's
output read by the next block's DoReFa conv and by its shortcut) is rescaled as a whole. Values
above ``r`` are clipped by the DoReFa grid.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional

import numpy as np

from ..ir import Graph, Node
from ..ir.ops import Add, Mul
from . import is_weighted_reader


@dataclasses.dataclass
class ScaleGroup:
    """Activations that one positive factor ``r`` must divide together (a residual stream).

    ``tensors``: the members; ``producers``: the Conv/Linear nodes writing a member (their weights,
    bias and clamp are divided by ``r``); ``joins``: Add and Mul nodes writing a member (their clamp
    is divided); ``readers``: the Conv/Linear nodes reading a member as their input (their weights
    are multiplied by ``r``). A node can be both a producer of one group and a reader of another.
    """

    tensors: set
    producers: list
    joins: list
    readers: list


def _scaled_inputs(node: Node) -> Optional[list]:
    """The inputs of ``node`` that share a positive factor with its output, or None.

    Scale-equivariant ops (``Op.SCALE_EQUIVARIANT``): their input. Add: both inputs
    (``clamp(a/r + b/r) = clamp(a + b)/r`` with the clamp's bounds divided by ``r``). Mul: its first
    input (``clamp(a/r * b)`` likewise), unless it squares it.
    """
    if node.op.SCALE_EQUIVARIANT:
        return [node.inputs[0]]
    if isinstance(node.op, Add):
        return list(node.inputs)
    if isinstance(node.op, Mul) and node.inputs[0] != node.inputs[1]:
        return [node.inputs[0]]
    return None


def scale_group(graph: Graph, start: str) -> Optional[ScaleGroup]:
    """The scale group of activation ``start``, or None when some member cannot be rescaled.

    Members are connected through the nodes of :func:`_scaled_inputs` (an input it names and the
    output share the factor). Every member must be produced by a Conv/Linear or by such a node,
    and read only through such a node or as the input of a Conv/Linear; a graph input or output,
    a constant operand or any other op stops the rescaling.
    """
    group = ScaleGroup(set(), [], [], [])
    frontier = [start]
    while frontier:
        name = frontier.pop()
        if name in group.tensors:
            continue
        if name in graph.outputs or graph.tensors[name].is_constant:
            return None
        group.tensors.add(name)
        producer = graph.producer(name)
        if producer is None:
            return None
        if producer.op.WEIGHTED:
            group.producers.append(producer)
        elif (scaled := _scaled_inputs(producer)) is not None:
            frontier.extend(scaled)
            if hasattr(producer.op, "clamp"):
                group.joins.append(producer)
        else:
            return None
        for consumer in graph.consumers(name):
            if name in (_scaled_inputs(consumer) or ()):
                frontier.append(consumer.output)
            elif is_weighted_reader(consumer, name):
                group.readers.append(consumer)
            else:
                return None
    return group


def _scaled_clamp(clamp: tuple, r: float) -> tuple:
    return tuple(None if bound is None else bound / r for bound in clamp)


def _rescale_group(graph: Graph, group: ScaleGroup, r: float) -> None:
    """Divide ``group``'s activations by ``r`` in ``graph`` (in place), keeping the float function."""
    for producer in group.producers:
        for name in producer.inputs[1:]:
            if name is not None:
                t = graph.tensors[name]
                t.data = (t.data / r).astype(np.float32)
        producer.op = dataclasses.replace(producer.op, clamp=_scaled_clamp(producer.op.clamp, r))
    for join in group.joins:
        join.op = dataclasses.replace(join.op, clamp=_scaled_clamp(join.op.clamp, r))
    for reader in group.readers:
        t = graph.tensors[reader.inputs[1]]
        t.data = (t.data * r).astype(np.float32)


def run(graph: Graph, clip_levels: Mapping[str, float]) -> tuple:
    """Rescale the scale groups of the tensors DoReFa layers read (see the module docstring).

    ``clip_levels``: each tensor a DoReFa layer reads -> the float value its grid's top stands for
    (``quant.calibrate.dorefa_clip``); a group is divided by the largest level among its members,
    and left alone when that is not positive or already 1. Returns ``(new graph, factors)``,
    ``factors`` mapping every rescaled tensor to the ``r`` it was divided by; ``graph`` is not
    modified.
    """
    out, factors = graph.copy(), {}
    seen = set()
    for start in clip_levels:
        if start in seen:
            continue
        group = scale_group(out, start)
        if group is None:
            continue
        seen |= group.tensors
        r = max(clip_levels[t] for t in group.tensors if t in clip_levels)
        if r <= 0 or r == 1.0:
            continue
        _rescale_group(out, group, r)
        factors.update(dict.fromkeys(group.tensors, r))
    return out, factors
