"""Merge a chain of convolutions, with the activations between them removed, into one conv.

After LayerMerge (Kim et al., ICML 2024) and "Efficient Latency-Aware CNN Depth Compression via
Two-Stage Dynamic Programming" (Kim et al., ICML 2023). ``select/merge_dp.py`` chooses which
segments to merge; this module does one merge.

Numerics (per spatial dim, dilation 1). Two valid (unpadded) convs

    y1[c1, p] = b1[c1] + sum_{i, u} W1[c1, i, u] x[i, s1*p + u]
    y2[c2, q] = b2[c2] + sum_{c1, v} W2[c2, c1, v] y1[c1, s2*q + v]

compose into one conv on ``x``:

    W[c2, i, t] = sum_{c1} sum_{u + s1*v = t} W2[c2, c1, v] * W1[c1, i, u]
    b[c2]       = b2[c2] + sum_{c1, v} W2[c2, c1, v] * b1[c1]
    kernel k    = k1 + (k2 - 1) * s1,    stride s = s1 * s2

Padding moves to the segment's input: the intermediate map is no longer materialized, so its zero
padding cannot be kept (a padded border of ``y1`` is 0, while the merged conv would see
``b1 + W1 * x`` there). The merged conv pads its input by ``p1 + s1 * p2`` at each side (begins and
ends separately), which is exactly the unmerged pair run with conv 1 padded that much and conv 2
unpadded; the output size is the same as the original pair's. Longer chains merge left to right
(``p = p_1 + s_1 p_2 + s_1 s_2 p_3 + ...``).

Groups: both convs are expanded to dense weights ``(C_out, C_in, *K)``, composed in float64, and
the merged conv takes the largest group count whose block-diagonal pattern covers the channels the
composition connects (known from the group structure, not from weight values): dense -> dense and
depthwise -> dense give a dense conv, depthwise -> depthwise a depthwise conv, g-grouped ->
g-grouped a g-grouped conv. Weights and bias are rounded to float32 once, at the end.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import UserError
from ..ir import Graph, Node, Tensor, verify
from ..ir.ops import Conv
from . import is_float_node, sole_consumer


@dataclass(frozen=True)
class LinearConv:
    """A conv without activation, in float64: dense weight ``(C_out, C_in, *K)`` and its layout."""

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple
    pads: tuple
    connects: np.ndarray  # bool (C_out, C_in): output channel reads input channel

    @property
    def rank(self) -> int:
        return len(self.stride)


def _group_pattern(c_out: int, c_in: int, groups: int) -> np.ndarray:
    out_group = np.arange(c_out) // (c_out // groups)
    in_group = np.arange(c_in) // (c_in // groups)
    return out_group[:, None] == in_group[None, :]


def linear_conv(graph: Graph, node: Node) -> LinearConv:
    """The node's conv as a dense float64 ``LinearConv`` (its clamp is ignored)."""
    op = node.op
    weight = graph.tensors[node.input("weight")].data.astype(np.float64)
    c_out, c_in_g = weight.shape[:2]
    c_in = c_in_g * op.groups
    connects = _group_pattern(c_out, c_in, op.groups)
    dense = np.zeros((c_out, c_in) + weight.shape[2:])
    dense[connects] = weight.reshape((c_out * c_in_g,) + weight.shape[2:])  # row-major: o, then i
    bias_name = node.input("bias")
    bias = np.zeros(c_out) if bias_name is None else graph.tensors[bias_name].data.astype(np.float64)
    return LinearConv(dense, bias, tuple(op.stride), tuple(op.pads), connects)


def compose(first: LinearConv, second: LinearConv) -> LinearConv:
    """The single conv equal to ``second(first(x))`` with the padding moved to ``x``."""
    r = first.rank
    k1, k2 = first.weight.shape[2:], second.weight.shape[2:]
    s1 = first.stride
    kernel = tuple(k1[d] + (k2[d] - 1) * s1[d] for d in range(r))
    weight = np.zeros(second.weight.shape[:1] + first.weight.shape[1:2] + kernel)
    channels = (slice(None), slice(None))
    for v in np.ndindex(*k2):
        # tap v of the second conv reads the first conv's taps u at merged taps t = u + s1 * v
        window = tuple(slice(s1[d] * v[d], s1[d] * v[d] + k1[d]) for d in range(r))
        weight[channels + window] += np.tensordot(second.weight[channels + v], first.weight, axes=(1, 0))
    spatial = tuple(range(2, 2 + r))
    bias = second.bias + second.weight.sum(axis=spatial) @ first.bias
    stride = tuple(s1[d] * second.stride[d] for d in range(r))
    pads = tuple(first.pads[i] + s1[i % r] * second.pads[i] for i in range(2 * r))
    connects = (second.connects.astype(np.int64) @ first.connects.astype(np.int64)) > 0
    return LinearConv(weight, bias, stride, pads, connects)


def groups_of(conv: LinearConv) -> int:
    """Largest group count whose block-diagonal pattern covers every connection of ``conv``."""
    c_out, c_in = conv.connects.shape
    for groups in range(math.gcd(c_out, c_in), 0, -1):
        if c_out % groups == 0 and c_in % groups == 0:
            if not np.any(conv.connects & ~_group_pattern(c_out, c_in, groups)):
                return groups
    return 1


def grouped_weight(conv: LinearConv, groups: int) -> np.ndarray:
    """The dense weight cut to the ``(C_out, C_in / groups, *K)`` layout of a grouped conv."""
    c_out, c_in = conv.connects.shape
    kept = conv.weight[_group_pattern(c_out, c_in, groups)]  # row-major: o, then i
    return kept.reshape((c_out, c_in // groups) + conv.weight.shape[2:])


def _check_mergeable(graph: Graph, node: Node) -> None:
    if not isinstance(node.op, Conv):
        raise UserError(f"cannot merge node {node.name}: it is a {node.op_name}, not a Conv")
    if not is_float_node(graph, node):
        raise UserError(f"cannot merge node {node.name}: only fp32 convs merge, it is {node.precision}")
    if any(d != 1 for d in node.op.dilation):
        raise UserError(f"cannot merge node {node.name}: dilation {node.op.dilation} is not 1")
    for slot in ("weight", "bias"):
        name = node.input(slot)
        if name is not None and graph.tensors[name].data is None:
            raise UserError(f"cannot merge node {node.name}: its {slot} is not a constant")


def is_mergeable(graph: Graph, node: Node) -> bool:
    try:
        _check_mergeable(graph, node)
    except UserError:
        return False
    return True


def activations_between(graph: Graph, first: Node, second: Node) -> Optional[list]:
    """The activation nodes on the single-reader path from ``first`` to ``second``, or None.

    None when ``first``'s output does not reach ``second``'s input through pointwise
    activations only, each read by the next step alone and none a graph output.
    """
    path = []
    tensor = first.output
    while True:
        reader = sole_consumer(graph, tensor)
        if reader is second:
            return path if second.inputs[0] == tensor else None
        if reader is None or not reader.op.ACTIVATION or not is_float_node(graph, reader):
            return None
        path.append(reader)
        tensor = reader.output


def _segment(graph: Graph, node_names: list) -> tuple:
    """Conv nodes of the segment and the activation nodes between them, checked."""
    convs = []
    for name in node_names:
        try:
            convs.append(graph.node(name))
        except KeyError:
            raise UserError(f"cannot merge: no node named {name}") from None
    for node in convs:
        _check_mergeable(graph, node)
    between = []
    for a, b in zip(convs, convs[1:]):
        if a.op.rank != b.op.rank:
            raise UserError(f"cannot merge {a.name} ({a.op.rank}-D) with {b.name} ({b.op.rank}-D)")
        path = activations_between(graph, a, b)
        if path is None:
            raise UserError(f"cannot merge {a.name} with {b.name}: they are not a single-reader chain")
        between.extend(path)
    return convs, between


def _add_constant(graph: Graph, base: str, value: np.ndarray) -> str:
    """Add ``value`` rounded to float32 as a new constant tensor; return its name."""
    name = graph.unique_name(base)
    graph.add_tensor(Tensor(name, value.shape, data=value.astype(np.float32)))
    return name


def _sources(node: Node) -> tuple:
    return node.merged_from or (node.name,)


def merge_segment(graph: Graph, node_names: list) -> Graph:
    """Return a new graph where the chain of convs ``node_names`` is one conv.

    Activations between the convs are removed; the last conv's clamp is kept. The merged node
    takes the first conv's name, writes the last conv's output tensor, and lists the source layers
    in ``merged_from``. A one-conv segment is returned unchanged. Raises UserError when the nodes
    are not a mergeable chain.
    """
    out = graph.copy()
    convs, between = _segment(out, list(node_names))
    if len(convs) < 2:
        return verify(out)
    merged = linear_conv(out, convs[0])
    for node in convs[1:]:
        merged = compose(merged, linear_conv(out, node))
    groups = groups_of(merged)
    first, last = convs[0], convs[-1]
    weight = grouped_weight(merged, groups)
    w_name = _add_constant(out, f"{first.name}.weight_merged", weight)
    b_name = _add_constant(out, f"{first.name}.bias_merged", merged.bias)
    op = Conv(stride=merged.stride, pads=merged.pads, dilation=(1,) * merged.rank, groups=groups,
              clamp=last.op.clamp)
    node = Node(
        name=first.name, op=op, inputs=[first.inputs[0], w_name, b_name], output=last.output,
        merged_from=tuple(s for c in convs for s in _sources(c)), source=first.source,
    )
    position = out.nodes.index(last)
    out.nodes[position] = node
    removed = {id(n) for n in convs[:-1] + between}
    out.nodes = [n for n in out.nodes if id(n) not in removed]
    return verify(out.prune())


def drop_activation(graph: Graph, first: str, second: str) -> Graph:
    """Return a new graph without the activation between conv ``first`` and conv ``second``.

    The convs stay separate (each keeps its own padding); ``first`` loses its clamp and the
    activation nodes on the path to ``second`` are removed.
    """
    out = graph.copy()
    convs, between = _segment(out, [first, second])
    head = convs[0]
    head.op = dataclasses.replace(head.op, clamp=(None, None))
    if between:
        convs[1].inputs = [head.output] + convs[1].inputs[1:]
        removed = {id(n) for n in between}
        out.nodes = [n for n in out.nodes if id(n) not in removed]
    return verify(out.prune())


def conv_chains(graph: Graph) -> list:
    """Maximal chains (lists of node names, length >= 2) of convs that ``merge_segment`` accepts."""
    successor = {}
    for node in graph.nodes:
        if not isinstance(node.op, Conv) or not is_mergeable(graph, node):
            continue
        tensor = node.output
        while (reader := sole_consumer(graph, tensor)) is not None and reader.op.ACTIVATION:
            tensor = reader.output
        if (reader is not None and isinstance(reader.op, Conv) and reader.op.rank == node.op.rank
                and is_mergeable(graph, reader) and activations_between(graph, node, reader) is not None):
            successor[node.name] = reader.name
    followers = set(successor.values())
    heads = [name for name in successor if name not in followers]
    chains = []
    for name in heads:
        chain = [name]
        while chain[-1] in successor:
            chain.append(successor[chain[-1]])
        chains.append(chain)
    return chains
