"""Fuse a Clip (ReLU, ReLU6, Hardtanh) into the ``clamp`` of the op before it (an op with the
``FUSES_CLIP`` trait: Conv, Linear, Add).

Numerics. The producer already computes ``clip(z, a, b)`` (``a``/``b`` = -inf/+inf when absent)
and the Clip node then computes ``clip(., c, d)``. Clipping twice is one clip:

    clip(clip(z, a, b), c, d) = clip(z, lo, hi),   lo = min(max(a, c), d),   hi = max(min(b, d), c)

When ``[a, b]`` and ``[c, d]`` overlap this is their intersection; when they are disjoint the
result is the constant ``c`` (if ``b < c``) or ``d`` (if ``a > d``), and ``lo = hi`` says so.
No rounding is involved: the fused node is bit-identical to the pair in float.

Fusion happens only between float32 tensors, when the producer's output is read by the Clip alone
and is not a graph output.
"""

from __future__ import annotations

import dataclasses
import math

from ..ir import Graph, Node, verify
from ..ir.ops import Clip, clamp_of
from . import bypass, is_float_node, sole_consumer

def compose_clamps(first: tuple, second: tuple) -> tuple:
    """The single clamp equal to applying ``first`` then ``second`` (None = unbounded)."""
    a = -math.inf if first[0] is None else first[0]
    b = math.inf if first[1] is None else first[1]
    c = -math.inf if second[0] is None else second[0]
    d = math.inf if second[1] is None else second[1]
    lo = min(max(a, c), d)
    hi = max(min(b, d), c)
    return clamp_of(None if lo == -math.inf else lo, None if hi == math.inf else hi)


def _fusable_producer(graph: Graph, clip: Node):
    producer = graph.producer(clip.inputs[0])
    if producer is None or not producer.op.FUSES_CLIP:
        return None
    if sole_consumer(graph, producer.output) is not clip:
        return None
    if not (is_float_node(graph, producer) and is_float_node(graph, clip)):
        return None
    return producer


def run(graph: Graph) -> Graph:
    """Return a copy of ``graph`` with every fusable Clip folded into its producer's clamp."""
    out = graph.copy()
    for clip in [n for n in out.nodes if isinstance(n.op, Clip)]:
        producer = _fusable_producer(out, clip)
        if producer is None:
            continue
        clamp = compose_clamps(producer.op.clamp, (clip.op.lo, clip.op.hi))
        producer.op = dataclasses.replace(producer.op, clamp=clamp)
        bypass(out, clip)
    return verify(out)
