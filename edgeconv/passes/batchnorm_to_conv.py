"""Rewrite every BatchNorm that folding left (one that follows no convolution) as a depthwise 1x1
convolution.

Numerics. Per channel ``c``, inference BatchNorm is the affine map

    y = x * k[c] + t[c],        k[c] = gamma[c] / sqrt(var[c] + eps),   t[c] = beta[c] - mean[c] * k[c]

(computed in float64, stored as float32), which is exactly a depthwise convolution with one 1x1
tap ``k[c]`` per channel and bias ``t[c]`` (groups = channels). As a convolution it is quantized
like any other layer: per-channel symmetric int8 weights (the one tap of channel ``c`` becomes
``±127`` with scale ``|k[c]| / 127``), an int32 bias and TFLite's requantization, so the
reference executor, TFLite Micro (DEPTHWISE_CONV_2D), ONNX Runtime and the C kernels compute the
same integers; in float it is one multiply and one add per element, as BatchNorm is.

A BatchNorm over ``(N, C)`` (BatchNorm1d on features) runs as a convolution of length 1:
Reshape to ``(N, C, 1)``, the convolution, Reshape back. The node keeps the BatchNorm's name and
source, so reports and sensitivities still name the user's layer.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Tensor, verify
from ..ir.ops import BatchNorm, Conv, Reshape
from . import is_float_node
from .fold_batchnorm import BN_SLOTS


def _affine(graph: Graph, bn: Node) -> tuple:
    gamma, beta, mean, var = (graph.tensors[bn.input(slot)].data.astype(np.float64) for slot in BN_SLOTS)
    k = gamma / np.sqrt(var + bn.op.eps)
    return k, beta - mean * k


def _is_constant(graph: Graph, bn: Node) -> bool:
    return all(graph.tensors[bn.input(slot)].is_constant for slot in BN_SLOTS)


def _reshaped(graph: Graph, bn: Node, src: str, shape: tuple, suffix: str) -> str:
    """A Reshape node of ``src`` to ``(N, *shape)`` inserted before ``bn``; returns its output."""
    out = graph.unique_tensor_name(f"{bn.output}_{suffix}")
    n = graph.tensors[src].shape[0]
    graph.add_tensor(Tensor(out, (n, *shape)))
    node = Node(graph.unique_node_name(f"{bn.name}_{suffix}"), Reshape(tuple(shape)), [src], out,
                source=bn.source)
    graph.nodes.insert(graph.nodes.index(bn), node)
    return out


def _rewrite(graph: Graph, bn: Node) -> None:
    shape = graph.tensors[bn.inputs[0]].shape
    channels = shape[1]
    rank = max(len(shape) - 2, 1)
    k, t = _affine(graph, bn)
    weight = graph.unique_tensor_name(f"{bn.name}.weight_affine")
    graph.add_tensor(Tensor(weight, (channels, 1) + (1,) * rank,
                            data=k.reshape((channels, 1) + (1,) * rank).astype(np.float32)))
    bias = graph.unique_tensor_name(f"{bn.name}.bias_affine")
    graph.add_tensor(Tensor(bias, (channels,), data=t.astype(np.float32)))
    x, output = bn.inputs[0], bn.output
    if len(shape) == 2:
        x = _reshaped(graph, bn, x, (channels, 1), "as_length1")
        conv_out = graph.unique_tensor_name(f"{bn.output}_length1")
        graph.add_tensor(Tensor(conv_out, (shape[0], channels, 1)))
        bn.output = conv_out
    bn.op = Conv(stride=(1,) * rank, pads=(0,) * (2 * rank), dilation=(1,) * rank, groups=channels)
    bn.inputs = [x, weight, bias]
    if len(shape) == 2:
        after = Node(graph.unique_node_name(f"{bn.name}_flat"), Reshape((channels,)), [bn.output], output,
                     source=bn.source)
        graph.nodes.insert(graph.nodes.index(bn) + 1, after)


def run(graph: Graph) -> Graph:
    """Return a copy of ``graph`` with every float BatchNorm with constant statistics rewritten as a
    depthwise 1x1 convolution."""
    out = graph.copy()
    for bn in [n for n in out.nodes if isinstance(n.op, BatchNorm)]:
        if is_float_node(out, bn) and _is_constant(out, bn):
            _rewrite(out, bn)
    return verify(out.prune())
