"""Let binary (XNOR) layers binarize the pre-activation of a ReLU-type clamp, not its output.

``sign(relu(x))`` is +1 everywhere (``relu(x) >= 0``), so a binary layer reading a ReLU output
would see a constant. As in binary-net practice the sign takes the activation's place:
``sign(x) = +1`` exactly where ``relu(x) > 0`` or ``x = 0``, which keeps the information the ReLU
carried. For a producer with a fused clamp ``lo == 0`` (Conv, Linear, Add, Mul):

* when it reaches, through scale-equivariant ops only (max/avg pools, reshapes:
  ``Op.SCALE_EQUIVARIANT``), nothing but binary layers, its clamp is dropped;
* else, when binary layers read it directly, it writes its pre-activation, which they read, and an
  explicit Clip node restores the ReLU output for its other readers (a residual stream).

The float function changes: fine-tuning recovers the accuracy (the unmodified graph stays the
teacher).
"""

from __future__ import annotations

import dataclasses
from typing import Collection, Optional

from ..ir import Graph, Node, Tensor, verify
from ..ir.ops import Clip
from . import is_weighted_reader


def _sign_chain_readers(graph: Graph, producer: Node) -> Optional[list]:
    """The weighted layers reading ``producer``'s output through scale-equivariant ops (a positive
    rescaling, as the sign is, passes them unchanged), or None when a graph output or any other
    reader is reached."""
    readers, frontier = [], [producer.output]
    while frontier:
        name = frontier.pop()
        if name in graph.outputs:
            return None
        for consumer in graph.consumers(name):
            if consumer.op.SCALE_EQUIVARIANT:
                frontier.append(consumer.output)
            elif is_weighted_reader(consumer, name):
                readers.append(consumer)
            else:
                return None
    return readers


def run(graph: Graph, binary_layers: Collection[str]) -> Graph:
    """``graph`` with the ReLUs read by the layers named in ``binary_layers`` moved after their
    sign (see the module docstring)."""
    out = graph.copy()
    for producer in list(out.nodes):
        clamp = getattr(producer.op, "clamp", (None, None))
        if clamp[0] != 0.0 or producer.output in out.outputs:
            continue
        readers = _sign_chain_readers(out, producer)
        if readers and all(n.name in binary_layers for n in readers):
            producer.op = dataclasses.replace(producer.op, clamp=(None, None))
            continue
        binary_readers = [n for n in out.consumers(producer.output)
                          if is_weighted_reader(n, producer.output) and n.name in binary_layers]
        if not binary_readers:
            continue
        post = out.tensors[producer.output]
        pre = out.unique_name(f"{producer.output}_preact")
        out.add_tensor(Tensor(pre, post.shape, post.dtype, post.layout))
        relu = Node(out.unique_name(f"{producer.name}_relu"), Clip(lo=0.0, hi=clamp[1]), [pre], post.name,
                    source=producer.source)
        producer.op = dataclasses.replace(producer.op, clamp=(None, None))
        producer.output = pre
        out.nodes.insert(out.nodes.index(producer) + 1, relu)
        for reader in binary_readers:
            reader.inputs[0] = pre
    return verify(out)
