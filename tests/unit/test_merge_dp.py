"""The merge-selection dynamic program against brute force, and on a real conv chain."""

import itertools
import math

import numpy as np
import pytest

from edgeconv.ir import Graph, Node, Tensor, verify
from edgeconv.ir import ops
from edgeconv.passes import merge_convs
from edgeconv.reference import run_single
from edgeconv.select import merge_dp

# Per activation position: keep it (block and piece boundary), remove it but keep the convs apart
# (piece boundary), or remove it and merge across it.
KEEP, SPLIT, MERGE = range(3)


def brute_force(num_convs, latency, importance, budget):
    """Best importance over every plan (3^(L-1) of them) whose latency is within ``budget``."""
    best = None
    for states in itertools.product((KEEP, SPLIT, MERGE), repeat=num_convs - 1):
        block_cuts = [0] + [p + 1 for p, s in enumerate(states) if s == KEEP] + [num_convs]
        piece_cuts = [0] + [p + 1 for p, s in enumerate(states) if s != MERGE] + [num_convs]
        total_latency = sum(latency(a, b) for a, b in zip(piece_cuts, piece_cuts[1:]))
        total_importance = sum(importance(i, j) for i, j in zip(block_cuts, block_cuts[1:]))
        if total_latency <= budget and (best is None or total_importance > best):
            best = total_importance
    return best


def random_costs(rng, num_convs, integer):
    latency, importance = {}, {}
    for i in range(num_convs):
        for j in range(i + 1, num_convs + 1):
            n = j - i
            latency[i, j] = float(rng.integers(1, 4 * n + 1)) if integer else float(rng.uniform(0.2, 1.2) * n)
            importance[i, j] = 0.0 if n == 1 else -float(rng.uniform(0, n))
    return (lambda i, j: latency[i, j]), (lambda i, j: importance[i, j])


def check_plan_is_consistent(plan, num_convs, latency, importance, budget):
    assert plan.blocks[0][0] == 0 and plan.blocks[-1][1] == num_convs
    assert all(a[1] == b[0] for a, b in zip(plan.blocks, plan.blocks[1:]))
    assert all(a[1] == b[0] for a, b in zip(plan.pieces, plan.pieces[1:]))
    block_ends = {j for _, j in plan.blocks}
    assert {j for _, j in plan.pieces} >= block_ends
    assert plan.latency_ms == pytest.approx(sum(latency(a, b) for a, b in plan.pieces), abs=1e-9)
    assert plan.importance == pytest.approx(sum(importance(i, j) for i, j in plan.blocks), abs=1e-9)
    assert plan.latency_ms <= budget + 1e-9


@pytest.mark.parametrize("seed", range(12))
def test_dp_equals_brute_force_with_exact_ticks(seed):
    rng = np.random.default_rng(seed)
    num_convs = int(rng.integers(2, 7))
    latency, importance = random_costs(rng, num_convs, integer=True)
    fastest = brute_force_min_latency(num_convs, latency)
    for budget in sorted({fastest, fastest + 1, fastest + 3, 2 * fastest, 4 * num_convs * num_convs}):
        plan = merge_dp.choose_merges(num_convs, latency, importance, budget, resolution=int(budget))
        assert plan is not None
        check_plan_is_consistent(plan, num_convs, latency, importance, budget)
        assert plan.importance == pytest.approx(brute_force(num_convs, latency, importance, budget), abs=1e-9)
    assert merge_dp.choose_merges(num_convs, latency, importance, fastest - 1 if fastest > 1 else 0.5,
                                  resolution=max(1, int(fastest - 1))) is None


def brute_force_min_latency(num_convs, latency):
    best = math.inf
    for cuts in itertools.product((False, True), repeat=num_convs - 1):
        bounds = [0] + [p + 1 for p, c in enumerate(cuts) if c] + [num_convs]
        best = min(best, sum(latency(a, b) for a, b in zip(bounds, bounds[1:])))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_dp_within_rounding_of_brute_force_with_float_costs(seed):
    rng = np.random.default_rng(1000 + seed)
    num_convs = int(rng.integers(2, 7))
    latency, importance = random_costs(rng, num_convs, integer=False)
    fastest = brute_force_min_latency(num_convs, latency)
    resolution = 200
    for factor in (1.05, 1.3, 2.0, 5.0):
        budget = fastest * factor
        tick = budget / resolution
        plan = merge_dp.choose_merges(num_convs, latency, importance, budget, resolution=resolution)
        lower = brute_force(num_convs, latency, importance, budget - num_convs * tick)
        upper = brute_force(num_convs, latency, importance, budget)
        if lower is None:
            assert plan is None or plan.importance <= upper + 1e-9
            continue
        check_plan_is_consistent(plan, num_convs, latency, importance, budget)
        assert lower - 1e-9 <= plan.importance <= upper + 1e-9
    assert merge_dp.choose_merges(num_convs, latency, importance, 0.99 * fastest, resolution=resolution) is None


def test_dp_respects_max_block_and_unmergeable_segments():
    latency = lambda i, j: 1.0 if j - i == 1 else (0.1 if j - i == 2 else math.inf)
    importance = lambda i, j: -0.01 if j - i > 1 else 0.0
    plan = merge_dp.choose_merges(4, latency, importance, budget_ms=0.2, resolution=100)
    assert plan.pieces == ((0, 2), (2, 4)) and plan.blocks == ((0, 4),)
    short_blocks = merge_dp.choose_merges(4, latency, importance, budget_ms=0.2, resolution=100, max_block=2)
    assert short_blocks.blocks == ((0, 2), (2, 4))
    assert merge_dp.choose_merges(4, latency, importance, budget_ms=0.2, resolution=100, max_block=1) is None


def narrow_wide_chain(rng, widths, spatial=8):
    """conv -> ReLU -> conv -> ... with channel counts ``widths`` (3x3, padding 1)."""
    graph = Graph(name="chain")
    graph.add_tensor(Tensor("x", (1, widths[0], spatial, spatial)))
    graph.inputs = ["x"]
    y = "x"
    for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
        w = (rng.standard_normal((c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype(np.float32)
        b = (0.1 * rng.standard_normal(c_out)).astype(np.float32)
        graph.add_tensor(Tensor(f"conv{i}.weight", w.shape, data=w))
        graph.add_tensor(Tensor(f"conv{i}.bias", b.shape, data=b))
        last = i == len(widths) - 2
        op = ops.Conv(pads=(1, 1, 1, 1), clamp=(None, None) if last else (0.0, None))
        graph.add_tensor(Tensor(f"conv{i}.out", (1, c_out, spatial, spatial)))
        graph.add_node(Node(f"conv{i}", op, [y, f"conv{i}.weight", f"conv{i}.bias"], f"conv{i}.out"))
        y = f"conv{i}.out"
    graph.outputs = [y]
    return verify(graph)


def macs_ms(graph, node):
    """A stand-in latency model for the test: 1 ms per million multiply-accumulates."""
    w = graph.tensors[node.input("weight")].shape
    out = graph.tensors[node.output].shape
    return float(np.prod(w) * np.prod(out[2:])) / 1e6


def test_default_importance_and_plan_on_a_real_chain():
    rng = np.random.default_rng(3)
    graph = narrow_wide_chain(rng, [3, 24, 3, 24, 3])
    chain = merge_convs.conv_chains(graph)[0]
    assert chain == ["conv0", "conv1", "conv2", "conv3"]
    calib = rng.standard_normal((8, 3, 8, 8)).astype(np.float32)
    importance = merge_dp.output_error_importance(graph, chain, calib)
    latency = merge_dp.merged_layer_latency(graph, chain, macs_ms)

    merged01 = merge_convs.merge_segment(graph, chain[0:2])
    reference = run_single(graph, calib).astype(np.float64)
    error = np.mean((run_single(merged01, calib) - reference) ** 2) / np.mean(reference ** 2)
    assert importance(0, 2) == pytest.approx(-error, rel=1e-12)
    assert importance(1, 2) == 0.0 and importance(0, 4) < 0.0
    assert latency(0, 2) < latency(0, 1) + latency(1, 2)  # 3->24->3 merged into one 5x5 3->3 conv

    unmerged = sum(latency(i, i + 1) for i in range(4))
    roomy = merge_dp.choose_merges(4, latency, importance, budget_ms=unmerged * 1.01)
    assert roomy.blocks == ((0, 1), (1, 2), (2, 3), (3, 4))
    plan = merge_dp.choose_merges(4, latency, importance, budget_ms=unmerged * 0.6)
    assert plan is not None and len(plan.pieces) < 4
    compressed = merge_dp.apply_plan(graph, chain, plan)
    convs = [n for n in compressed.nodes if n.op_name == "Conv"]
    assert len(convs) == len(plan.pieces)
    assert [n.merged_from or (n.name,) for n in convs] == [tuple(chain[a:b]) for a, b in plan.pieces]
    assert sum(macs_ms(compressed, n) for n in convs) == pytest.approx(plan.latency_ms)
    assert merge_dp.choose_merges(4, latency, importance, budget_ms=plan.latency_ms * 0.1) is None


def test_apply_plan_drops_activations_inside_a_block_and_merges_pieces():
    rng = np.random.default_rng(4)
    graph = narrow_wide_chain(rng, [3, 5, 6, 4, 3])
    chain = ["conv0", "conv1", "conv2", "conv3"]
    plan = merge_dp.MergePlan(blocks=((0, 3), (3, 4)), pieces=((0, 1), (1, 3), (3, 4)), latency_ms=0.0, importance=0.0)
    applied = merge_dp.apply_plan(graph, chain, plan)
    assert [(n.name, n.merged_from, n.op.clamp) for n in applied.nodes] == [
        ("conv0", (), (None, None)), ("conv1", ("conv1", "conv2"), (0.0, None)), ("conv3", (), (None, None))]
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    expected = run_single(merge_convs.merge_segment(merge_convs.drop_activation(graph, "conv0", "conv1"), chain[1:3]), x)
    np.testing.assert_array_equal(run_single(applied, x), expected)
