"""Which activations to remove and which convs to merge in a chain: a two-stage dynamic program.

After "Efficient Latency-Aware CNN Depth Compression via Two-Stage Dynamic Programming" (Kim et
al., ICML 2023) and LayerMerge (Kim et al., ICML 2024).

A chain holds convs ``0 .. L-1`` with an activation after each of ``0 .. L-2``. A plan

- keeps a set of those activations: they cut the chain into **blocks** ``[i, j)`` with no
  activation inside (the activation after conv ``j-1`` stays);
- cuts every block into **merged pieces** ``[a, b)``, each piece one conv (``merge_segment``).

The network function depends on the blocks only (merging a block's convs is exact up to the
moved padding), the latency on the pieces. With the callbacks

    segment_latency(a, b)    -> ms of convs a..b-1 merged into one conv (math.inf: not mergeable)
    segment_importance(i, j) -> importance of block [i, j): 0 for a single conv, lower (e.g. minus
                                the normalized output error) the more removing its activations hurts

the problem is: maximize  sum_blocks importance(i, j)  subject to  sum_pieces latency(a, b) <= T.

Stage 1 (latency, exact in float): the fastest way to run block ``[i, j)`` as merged pieces,

    best[i][j] = min( latency(i, j),  min_{i < k < j} best[i][k] + latency(k, j) ).

Stage 2 (importance under the budget, a knapsack over block boundaries): latency is discretized
into ``resolution`` ticks of ``tick = T / resolution`` ms; a block costs
``ceil(best[i][j] / tick - 1e-9)`` ticks (rounded up, so a plan the DP accepts never exceeds T;
the 1e-9 keeps exact multiples of a tick from being pushed up by float division). Then

    D[0][t] = 0,     D[j][t] = max_{i < j, c(i,j) <= t}  D[i][t - c(i,j)] + importance(i, j)

and the plan is read back from the arg-maxes at ``D[L][resolution]``. Rounding up can only refuse
plans within ``L`` ticks of the budget: the DP's importance is at least the best importance of
plans whose latency is at most ``T - L * tick``, and at most the best under ``T``. Cost:
``O(L^2)`` callback calls and ``O(L^2 * resolution)`` array work.

An infeasible budget (even the fastest plan is slower than T) gives ``None``: the caller decides
whether that is a user error (the command line reports it as an impossible budget).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Optional

import numpy as np

from ..ir import Graph, Node
from ..passes import merge_convs
from ..reference import run as run_graph

SegmentCost = Callable[[int, int], float]


@dataclass(frozen=True)
class MergePlan:
    """Blocks (activations kept after each block's last conv) and merged pieces of a chain."""

    blocks: tuple  # ((i, j), ...): convs i..j-1 with no activation between them
    pieces: tuple  # ((a, b), ...): convs a..b-1 merged into one conv; each piece inside one block
    latency_ms: float
    importance: float


def fastest_pieces(num_convs: int, segment_latency: SegmentCost) -> tuple:
    """Stage 1: for every block [i, j), its least latency and the pieces reaching it.

    Returns ``(best, split)``: ``best[i][j]`` in ms, ``split[i][j]`` the start of the last piece.
    """
    size = num_convs + 1
    latency = np.full((size, size), math.inf)
    for i in range(num_convs):
        for j in range(i + 1, size):
            latency[i][j] = segment_latency(i, j)
    best = np.full((size, size), math.inf)
    split = np.zeros((size, size), dtype=np.int64)
    for i in range(num_convs):
        for j in range(i + 1, size):
            best[i][j], split[i][j] = latency[i][j], i
            for k in range(i + 1, j):
                candidate = best[i][k] + latency[k][j]
                if candidate < best[i][j]:
                    best[i][j], split[i][j] = candidate, k
    return best, split


def _pieces_of(i: int, j: int, split: np.ndarray) -> list:
    pieces = []
    while j > i:
        k = int(split[i][j])
        pieces.append((k, j))
        j = k
    return pieces[::-1]


def _ticks(ms: float, tick: float) -> int:
    """A latency in whole ticks, rounded up (the 1e-9 keeps exact multiples exact)."""
    return math.ceil(ms / tick - 1e-9)


def choose_merges(num_convs: int, segment_latency: SegmentCost, segment_importance: SegmentCost,
                  budget_ms: float, resolution: int = 1000, max_block: Optional[int] = None) -> Optional[MergePlan]:
    """Stage 2: the plan of greatest total importance whose latency fits ``budget_ms``, or None.

    ``max_block`` limits how many convs one block may hold (fewer importance evaluations).
    """
    if num_convs < 1 or budget_ms <= 0 or resolution < 1:
        raise ValueError("need at least one conv, a positive budget and a positive resolution")
    longest = num_convs if max_block is None else max_block
    best, split = fastest_pieces(num_convs, segment_latency)
    tick = budget_ms / resolution
    value = np.full((num_convs + 1, resolution + 1), -math.inf)
    value[0, :] = 0.0
    start = np.zeros((num_convs + 1, resolution + 1), dtype=np.int64)
    for j in range(1, num_convs + 1):
        for i in range(max(0, j - longest), j):
            if not math.isfinite(best[i][j]):
                continue
            cost = _ticks(best[i][j], tick)
            if cost > resolution:
                continue
            candidate = np.full(resolution + 1, -math.inf)
            candidate[cost:] = value[i, :resolution + 1 - cost] + segment_importance(i, j)
            better = candidate > value[j]
            value[j, better] = candidate[better]
            start[j, better] = i
    if not math.isfinite(value[num_convs, resolution]):
        return None
    blocks, j, t = [], num_convs, resolution
    while j > 0:
        i = int(start[j, t])
        blocks.append((i, j))
        t -= _ticks(best[i][j], tick)
        j = i
    blocks.reverse()
    pieces = tuple(p for i, j in blocks for p in _pieces_of(i, j, split))
    return MergePlan(
        blocks=tuple(blocks),
        pieces=pieces,
        latency_ms=float(sum(best[i][j] for i, j in blocks)),
        importance=float(value[num_convs, resolution]),
    )


def apply_plan(graph: Graph, chain: list, plan: MergePlan) -> Graph:
    """Return a new graph with ``plan`` applied to the convs named in ``chain``."""
    graph = graph.copy()
    block_ends = {j for _, j in plan.blocks}
    for _, b in plan.pieces:
        if b not in block_ends:
            graph = merge_convs.drop_activation(graph, chain[b - 1], chain[b])
    for a, b in plan.pieces:
        if b - a > 1:
            graph = merge_convs.merge_segment(graph, chain[a:b])
    return graph


def output_error_importance(graph: Graph, chain: list, calib_x: np.ndarray) -> SegmentCost:
    """Default importance: minus the normalized output MSE of the network with block [i, j) merged.

    ``importance(i, j) = -mean((f_ij(x) - f(x))^2) / mean(f(x)^2)`` over the calibration inputs
    and all graph outputs, where ``f_ij`` is the graph with convs ``chain[i:j]`` merged (their
    activations removed, padding moved). A single conv changes nothing: importance 0.
    """
    reference = _outputs(graph, calib_x)
    power = max(float(np.mean(reference ** 2)), np.finfo(np.float64).tiny)

    @lru_cache(maxsize=None)
    def importance(i: int, j: int) -> float:
        if j - i < 2:
            return 0.0
        merged = merge_convs.merge_segment(graph, chain[i:j])
        return -float(np.mean((_outputs(merged, calib_x) - reference) ** 2)) / power

    return importance


def _outputs(graph: Graph, x: np.ndarray) -> np.ndarray:
    values = run_graph(graph, x)
    return np.concatenate([values[name].astype(np.float64).ravel() for name in graph.outputs])


def merged_layer_latency(graph: Graph, chain: list, layer_ms: Callable[[Graph, Node], float]) -> SegmentCost:
    """Segment latency from a per-layer latency model: ``layer_ms`` of the merged conv node.

    ``layer_ms(graph, node)`` is e.g. the target's latency model for an fp32 layer.
    """

    @lru_cache(maxsize=None)
    def latency(i: int, j: int) -> float:
        merged = merge_convs.merge_segment(graph, chain[i:j])
        return float(layer_ms(merged, merged.node(chain[i])))

    return latency
