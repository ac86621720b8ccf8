"""Binary tensors that travel between binary layers as packed bits (``kernels_c/include/ec_b1.h``).

A *packed chain* is an XNOR convolution (the producer) whose int8 output is read by nothing but
max pools, one after the other, maybe a flatten, and then one Sign, whose {-1, +1} output every
reader takes through an XNOR kernel (a convolution, maybe through a +1 Pad it absorbs, or after a
flatten a fully connected layer). On such a chain the int8 codes between the two binary layers
never exist in C:

- the producer writes one bit per channel (set = -1): it compares each popcount sum with a limit
  per channel (:func:`pop_limits`), which stands for its bias, weight step, requantization and
  clamp, the pools' clamps and the Sign's threshold at once;
- each max pool ANDs the bits of its window (``ec_b1_maxpool2d``): the max of the codes is at or
  above the Sign's threshold exactly when one of them is, as every step after the accumulator is
  non-decreasing;
- the flatten and the Sign cost nothing, and the readers copy words instead of packing int8 codes
  (a fully connected layer reads the pixels' words in place, its weight columns in that order).

The limits are computed by the integer reference's own functions over every popcount a channel can
have, so the C output is the reference's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ...ir import Graph, Node
from ...ir.ops import Conv, Linear, MaxPool
from ...quant.single_rounding import weight_steps
from ...quant.integer_params import weighted_requantization
from ...reference.int_kernels import INT_KERNELS
from .layout import hwc3


@dataclass(frozen=True)
class PackedChain:
    producer: Node      # the XNOR convolution writing packed bits
    pools: tuple        # MaxPool nodes pooling those bits, in order
    flatten: Optional[Node]  # a Reshape to (N, C*H*W) before the Sign, or None
    sign: Node          # the Sign whose output the next XNOR layers read

    def packed_tensors(self, graph: Graph) -> dict:
        """The tensors held as packed words (the producer's output, each pool's, the flatten's, the
        Sign's) -> bytes of one sample; a flattened tensor keeps the words of the map before it."""
        spatial = [self.producer.output, *(p.output for p in self.pools)]
        sizes = {name: packed_bytes(graph.tensors[name].shape) for name in spatial}
        after = [self.flatten.output] if self.flatten is not None else []
        for name in after + [self.sign.output]:
            sizes[name] = sizes[spatial[-1]]
        return sizes


def packed_bytes(shape: tuple) -> int:
    """Bytes of one sample of a {-1, +1} tensor of NCHW (or NCW) ``shape`` as packed words."""
    h, w, c = hwc3(shape)
    return h * w * ((c + 31) // 32) * 4


def _single_reader(graph: Graph, name: str):
    readers = graph.consumers(name)
    return readers[0] if len(readers) == 1 and name not in graph.outputs else None


def _every_window_holds_a_tap(graph: Graph, pool: Node) -> bool:
    """Whether each output window of ``pool`` covers at least one input position (the bit pool
    has no value for a window of padding alone)."""
    op = pool.op
    in_sizes = graph.tensors[pool.inputs[0]].shape[2:]
    out_sizes = graph.tensors[pool.output].shape[2:]
    for axis, (n_in, n_out) in enumerate(zip(in_sizes, out_sizes)):
        dilation = op.dilation[axis] if getattr(op, "dilation", None) else 1
        starts = np.arange(n_out) * op.stride[axis] - op.pads[axis]
        taps = starts[:, None] + dilation * np.arange(op.kernel[axis])[None, :]
        if not np.all(((taps >= 0) & (taps < n_in)).any(axis=1)):
            return False
    return True


def _is_flatten(graph: Graph, node: Node) -> bool:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.output]
    return node.op.LAYOUT_ONLY and len(x.shape) == 4 and len(y.shape) == 2 and x.quant == y.quant


def _pools_bits(graph: Graph, node: Node) -> bool:
    q_in, q_out = graph.tensors[node.inputs[0]].quant, graph.tensors[node.output].quant
    return (isinstance(node.op, MaxPool) and len(node.op.kernel) == 2 and q_in is not None and q_in == q_out
            and _every_window_holds_a_tap(graph, node))


def packed_chains(graph: Graph, runs_xnor: Callable[[Node], bool], absorbed_pads: dict) -> list:
    """Every packed chain of ``graph``. ``runs_xnor(node)`` tells whether a convolution or a fully
    connected layer runs an XNOR kernel; ``absorbed_pads`` maps a convolution to the +1 Pad it absorbs (``xnor_pad_fusions``)."""
    readers_through_pad = {pad.name: graph.node(conv) for conv, pad in absorbed_pads.items()}
    chains = []
    for producer in graph.nodes:
        if not isinstance(producer.op, Conv) or not runs_xnor(producer):
            continue
        pools, reader = [], _single_reader(graph, producer.output)
        while reader is not None and _pools_bits(graph, reader):
            pools.append(reader)
            reader = _single_reader(graph, reader.output)
        flatten = reader if reader is not None and _is_flatten(graph, reader) else None
        if flatten is not None:
            reader = _single_reader(graph, flatten.output)
        if reader is None or reader.op.FIXED_GRID != "binary" or reader.output in graph.outputs:
            continue
        sign_readers = [readers_through_pad.get(n.name, n) for n in graph.consumers(reader.output)]
        wanted = Linear if flatten is not None else Conv
        if sign_readers and all(isinstance(n.op, wanted) and runs_xnor(n) for n in sign_readers):
            chains.append(PackedChain(producer, tuple(pools), flatten, reader))
    return chains


def pop_limits(graph: Graph, chain: PackedChain) -> np.ndarray:
    """Per output channel c of the producer, the largest popcount sum whose value the Sign after the
    chain makes +1: the bit is -1 exactly when ``pop > limit[c]`` (-1: always -1; K: never).

    For every pop in [0, K], K = k_h * k_w * C_in, the accumulator ``bias + n_c * (K - 2 pop)``
    goes through the reference's requantization of the producer, each pool's clamp (a max over
    equal values is the clamped value) and the reference's Sign. A chain where the -1 pops are not
    exactly those above one limit would be a broken premise: it raises ``ValueError``."""
    producer = chain.producer
    w = graph.tensors[producer.inputs[1]].data.astype(np.int64)
    k_total = int(np.prod(w.shape[1:]))
    bias_name = producer.inputs[2] if len(producer.inputs) > 2 else None
    bias = graph.tensors[bias_name].data.astype(np.int64) if bias_name else np.zeros(w.shape[0], dtype=np.int64)
    pops = np.arange(k_total + 1, dtype=np.int64)
    acc = bias[:, None] + weight_steps(w)[:, None] * (k_total - 2 * pops)[None, :]
    codes = weighted_requantization(producer, graph).apply(acc[None])
    for pool in chain.pools:
        q = graph.tensors[pool.output].quant
        codes = np.clip(codes, q.qmin, q.qmax)
    signs = INT_KERNELS["Sign"](chain.sign, graph, codes)[0]
    minus = signs.astype(np.int64) < int(graph.tensors[chain.sign.output].quant.zero_point[0])
    limits = (~minus).sum(axis=1) - 1
    if not np.array_equal(minus, pops[None, :] > limits[:, None]):
        raise ValueError(f"{producer.name}: the Sign after it is not monotone in the popcount")
    return limits
