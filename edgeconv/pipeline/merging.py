"""Layer merging when precision alone cannot meet the latency budget (LayerMerge, Kim et al. 2024).

The precision selector is tried first: merging removes activations and so always costs accuracy,
while a lower precision may cost less. When the fastest precision assignment is still slower than
the budget by ``deficit`` ms, each conv chain is given to the merge DP (``select.merge_dp``) in
turn, with the chain's int8 latency from the target's latency model as segment cost and the
normalized output error on calibration data as importance, and a chain budget of its current
latency minus what is still missing. The merged graph then goes back to the precision selector;
fine-tuning recovers the accuracy the removed activations cost. ``merged_from`` on each merged
conv names the layers it replaces (and the report shows it).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph
from ..passes.merge_convs import conv_chains
from ..select.latency import predict_layer_ms
from ..select.merge_dp import apply_plan, choose_merges, fastest_pieces, merged_layer_latency, output_error_importance

IMPORTANCE_SAMPLES = 64
MAX_BLOCK = 3  # convs one merged block may span: bounds the kernel growth and the DP's work


def merge_to_fit(target, graph: Graph, calib_x: np.ndarray, deficit_ms: float, table) -> Graph:
    """``graph`` with conv chains merged until ``deficit_ms`` of predicted latency is saved, or as
    close as merging gets (the caller re-checks the budget)."""
    sample = calib_x[:IMPORTANCE_SAMPLES]

    def int8_ms(g: Graph, node) -> float:
        return predict_layer_ms(target, g, node, "int8", table=table)

    for chain in conv_chains(graph):
        latency = merged_layer_latency(graph, chain, int8_ms)
        current = sum(latency(i, i + 1) for i in range(len(chain)))
        fastest = fastest_pieces(len(chain), latency)[0][0][len(chain)]
        if fastest >= current:
            continue  # merging this chain does not make it faster on this target
        plan = choose_merges(len(chain), latency, output_error_importance(graph, chain, sample),
                             max(fastest, current - deficit_ms), max_block=MAX_BLOCK)
        if plan is None:
            continue
        graph = apply_plan(graph, chain, plan)
        deficit_ms -= current - plan.latency_ms
        if deficit_ms <= 0:
            break
    return graph
