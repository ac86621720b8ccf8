"""Layer precisions: parsing ``fp32`` / ``int8`` / ``wKaM`` / ``w1a1`` and assigning them to nodes.

* ``fp32``: the layer stays float (between Dequantize and Quantize nodes in a quantized graph).
* ``int8``: TFLite int8 (DESIGN §2).
* ``wKaM``: DoReFa, K-bit weights (K = 1..7) and M-bit activations (M = 1..8) on the layer's input.
  ``w8a8`` is plain ``int8``; any other K = 8 is refused (8-bit weights are int8 weights).
* ``w1a1``: XNOR, binary weights and binary input activations.

A uniform low-bit precision for a whole model (``w1a1`` or any ``wKaM``) keeps the first conv and
the last linear layer at int8, the standard practice of XNOR-Net and DoReFa-Net: the first layer
sees the raw input and the last one produces the logits, and both are small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Union

from ..errors import UserError
from ..ir import Graph
from ..ir.ops import Conv, Linear

_DOREFA = re.compile(r"^w(\d+)a(\d+)$")


@dataclass(frozen=True)
class Precision:
    """A parsed precision: ``kind`` is ``fp32``, ``int8``, ``dorefa`` or ``xnor``; the bits of its
    weights and of the activations its layer reads (32 for fp32, 8 for int8)."""

    kind: str
    weight_bits: int
    act_bits: int

    @property
    def name(self) -> str:
        if self.kind in ("fp32", "int8"):
            return self.kind
        return f"w{self.weight_bits}a{self.act_bits}"

    @property
    def quantized(self) -> bool:
        return self.kind != "fp32"

    @property
    def low_bit(self) -> bool:
        return self.kind in ("dorefa", "xnor")


FP32 = Precision("fp32", 32, 32)
INT8 = Precision("int8", 8, 8)


def parse_precision(text: str) -> Precision:
    """``"fp32"``, ``"int8"``, ``"wKaM"`` or ``"w1a1"`` -> :class:`Precision`; UserError otherwise."""
    word = str(text).strip().lower()
    if word in ("fp32", "int8"):
        return FP32 if word == "fp32" else INT8
    match = _DOREFA.match(word)
    if not match:
        raise UserError(f"unknown precision {text!r}: use fp32, int8, wKaM (K in 1..7, M in 1..8) or w1a1")
    k, m = int(match.group(1)), int(match.group(2))
    if (k, m) == (8, 8):
        return INT8
    if (k, m) == (1, 1):
        return Precision("xnor", 1, 1)
    if not (1 <= k <= 7 and 1 <= m <= 8):
        raise UserError(f"precision {text!r} out of range: weight bits 1..7 and activation bits 1..8 (w8a8 is int8)")
    return Precision("dorefa", k, m)


def _weighted(graph: Graph) -> list:
    return [n for n in graph.nodes if n.op.WEIGHTED]


def uniform_precisions(graph: Graph, precision: Union[str, Precision]) -> dict:
    """Per-node precision names for one precision over the whole model.

    Weighted nodes take ``precision``, except that a low-bit precision leaves the first Conv and
    the last Linear of the graph at int8. Other nodes are ``int8`` in a quantized model.
    """
    chosen = precision if isinstance(precision, Precision) else parse_precision(precision)
    result = {n.name: (chosen if chosen.kind == "fp32" else INT8).name for n in graph.nodes}
    weighted = _weighted(graph)
    kept = set()
    if chosen.low_bit:
        convs = [n for n in weighted if isinstance(n.op, Conv)]
        linears = [n for n in weighted if isinstance(n.op, Linear)]
        if convs:
            kept.add(convs[0].name)
        if linears:
            kept.add(linears[-1].name)
    for node in weighted:
        result[node.name] = INT8.name if node.name in kept else chosen.name
    return result


def resolve_precisions(graph: Graph, precisions: Union[str, Precision, Mapping[str, str]]) -> dict:
    """Per-node :class:`Precision` for every node of ``graph``.

    ``precisions`` is one precision for the whole model (see :func:`uniform_precisions`) or a map
    from node name to precision. In a map, a weighted node must be named; a node without weights
    that is not named follows the producer of its first input (int8 when that is a graph input and
    any weighted node is quantized).
    """
    if isinstance(precisions, (str, Precision)):
        names = uniform_precisions(graph, precisions)
    else:
        names = dict(precisions)
        unknown = sorted(set(names) - {n.name for n in graph.nodes})
        if unknown:
            raise UserError(f"precision given for unknown layer(s): {', '.join(unknown)}")
        missing = [n.name for n in _weighted(graph) if n.name not in names]
        if missing:
            raise UserError(f"no precision given for layer(s): {', '.join(missing)}")
    parsed = {name: parse_precision(text) for name, text in names.items()}
    any_quantized = any(parsed[n.name].quantized for n in _weighted(graph))
    default = INT8 if any_quantized else FP32
    producers = {n.output: n for n in graph.nodes}
    result = {}
    for node in graph.nodes:
        if node.name in parsed:
            result[node.name] = parsed[node.name]
            continue
        first = producers.get(node.inputs[0]) if node.inputs else None
        inherited = default if first is None else result[first.name]
        result[node.name] = INT8 if inherited.low_bit else inherited
    for node in graph.nodes:
        if not node.op.WEIGHTED and result[node.name].low_bit:
            raise UserError(f"layer {node.name} ({node.op_name}) has no weights: it can be fp32 or int8, not {result[node.name].name}")
    return result
