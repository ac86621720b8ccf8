"""Fold inference BatchNorm into the Conv, ConvTranspose or Linear that produces its input.

Numerics. BatchNorm computes, per channel ``c`` (axis 1),

    y = (x - mean[c]) * s[c] + beta[c],        s[c] = gamma[c] / sqrt(var[c] + eps)

and the producer computes ``x = W * input + b`` with output channel ``c`` on weight axis 0 (conv
weights ``(C_out, C_in/groups, *K)``, transposed conv weights ``(C_out, C_in, *K)``, linear weights
``(out, in)``; grouped and depthwise convs too, since axis 0 is always the output channel). Hence

    W'[c, ...] = W[c, ...] * s[c]
    b'[c]      = (b[c] - mean[c]) * s[c] + beta[c]        (b = 0 when the producer has no bias)

computed in float64 and stored as float32, so the folded layer differs from the unfolded pair by
float32 rounding only.

A BatchNorm is folded only when its producer is an fp32 Conv/Linear with constant weights, no fused
activation (a clamp between the layer and the BatchNorm is not linear), and no other reader of its
output (the unnormalized map would be lost). Any other BatchNorm stays as it is; the next standard
pass (``batchnorm_to_conv``) makes it a depthwise 1x1 convolution. A BatchNorm is not folded into
the *following* conv, because that conv's zero padding would then pad the normalized map with
zeros that BatchNorm never produced.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Tensor, verify
from ..ir.ops import BatchNorm
from . import bypass, is_float_node, sole_consumer

BN_SLOTS = ("gamma", "beta", "mean", "var")


def _constant(graph: Graph, name) -> np.ndarray | None:
    if name is None:
        return None
    return graph.tensors[name].data


def _foldable_producer(graph: Graph, bn: Node):
    producer = graph.producer(bn.inputs[0])
    if producer is None or not producer.op.WEIGHTED:
        return None
    if sole_consumer(graph, producer.output) is not bn:
        return None
    if not (is_float_node(graph, producer) and is_float_node(graph, bn)):
        return None
    if producer.op.clamp != (None, None):
        return None
    weight, bias = producer.input("weight"), producer.input("bias")
    if _constant(graph, weight) is None or (bias is not None and _constant(graph, bias) is None):
        return None
    if any(_constant(graph, bn.input(slot)) is None for slot in BN_SLOTS):
        return None
    return producer


def _fold(graph: Graph, producer: Node, bn: Node) -> None:
    gamma, beta, mean, var = (_constant(graph, bn.input(slot)).astype(np.float64) for slot in BN_SLOTS)
    scale = gamma / np.sqrt(var + bn.op.eps)
    weight = graph.tensors[producer.input("weight")].data.astype(np.float64)
    bias_name = producer.input("bias")
    bias = np.zeros(weight.shape[0]) if bias_name is None else graph.tensors[bias_name].data.astype(np.float64)

    folded_w = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    folded_b = (bias - mean) * scale + beta
    w_name = graph.unique_name(f"{producer.name}.weight_folded")
    graph.add_tensor(Tensor(w_name, folded_w.shape, data=folded_w.astype(np.float32)))
    b_name = graph.unique_name(f"{producer.name}.bias_folded")
    graph.add_tensor(Tensor(b_name, folded_b.shape, data=folded_b.astype(np.float32)))
    producer.inputs = [producer.inputs[0], w_name, b_name]
    bypass(graph, bn)


def run(graph: Graph) -> Graph:
    """Return a copy of ``graph`` with every foldable BatchNorm folded into its producer."""
    out = graph.copy()
    for bn in [n for n in out.nodes if isinstance(n.op, BatchNorm)]:
        producer = _foldable_producer(out, bn)
        if producer is not None:
            _fold(out, producer, bn)
    return verify(out)
