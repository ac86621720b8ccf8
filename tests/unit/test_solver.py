"""The selector's knapsack: optimal against brute force, monotone in the budget, clear when infeasible."""

import itertools

import numpy as np
import pytest

from edgeconv.errors import UserError
from edgeconv.select import build_problem, frontier, select
from edgeconv.select.latency import warnings_for
from edgeconv.select.sensitivity import SensitivityTable
from edgeconv.select.solver import BudgetInfeasible, LayerChoices, Option, least_cost, pareto_frontier, solve
from edgeconv.targets import load_target

try:
    from .test_latency import conv_net
except ImportError:  # tests/unit collected as a plain directory (rootdir on sys.path)
    from test_latency import conv_net


def random_layers(rng, n_layers, n_options, integer=False):
    layers = []
    for i in range(n_layers):
        options = []
        for j in range(n_options):
            lat = float(rng.integers(1, 6)) if integer else float(rng.uniform(0.1, 3.0))
            cost = float(rng.integers(0, 4)) if integer else float(rng.uniform(0.0, 1.0))
            options.append(Option(f"p{j}", None, lat, cost, int(rng.integers(10, 100))))
        layers.append(LayerChoices(f"layer{i}", tuple(options)))
    return layers


def brute_force(layers, budget, memory_budget=None):
    """Every combination; best by (cost, latency, memory). Returns None when none is feasible."""
    best = None
    for combo in itertools.product(*(layer.options for layer in layers)):
        lat = sum(o.latency_ms for o in combo)
        mem = sum(o.memory_bytes for o in combo)
        if lat <= budget and (memory_budget is None or mem <= memory_budget):
            key = (sum(o.cost for o in combo), lat, mem)
            if best is None or key < best:
                best = key
    return best


@pytest.mark.parametrize("seed", range(40))
def test_optimal_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    integer = seed % 2 == 0  # integer data makes many exact ties
    layers = random_layers(rng, int(rng.integers(1, 6)), int(rng.integers(1, 5)), integer)
    fastest = sum(min(o.latency_ms for o in layer.options) for layer in layers)
    slowest = sum(max(o.latency_ms for o in layer.options) for layer in layers)
    memory_budget = None if seed % 3 else int(sum(np.mean([o.memory_bytes for o in l.options]) for l in layers))
    for budget in np.linspace(fastest * 0.9, slowest * 1.05, 9):
        expected = brute_force(layers, budget, memory_budget)
        if expected is None:
            with pytest.raises(BudgetInfeasible):
                solve(layers, budget, memory_budget)
            continue
        got = solve(layers, budget, memory_budget)
        assert got.latency_ms <= budget
        assert got.latency_ms == pytest.approx(sum(o.latency_ms for o in got.choices))
        assert got.cost == pytest.approx(sum(o.cost for o in got.choices))
        assert got.memory_bytes == sum(o.memory_bytes for o in got.choices)
        assert (got.cost, got.latency_ms) == pytest.approx(expected[:2])
        if memory_budget is not None:
            assert got.memory_bytes <= memory_budget


@pytest.mark.parametrize("seed", range(10))
def test_tighter_budget_never_predicts_slower(seed):
    rng = np.random.default_rng(100 + seed)
    layers = random_layers(rng, 12, 5, integer=seed % 2 == 0)
    fastest = sum(min(o.latency_ms for o in layer.options) for layer in layers)
    slowest = sum(max(o.latency_ms for o in layer.options) for layer in layers)
    previous = None
    for budget in np.linspace(slowest, fastest, 60):
        got = solve(layers, budget)
        if previous is not None:
            assert got.latency_ms <= previous.latency_ms
            assert got.cost >= previous.cost
        previous = got


def test_infeasible_latency_reports_fastest_and_binding_constraint():
    layers = [
        LayerChoices("a", (Option("fp32", None, 2.0, 0.0, 400), Option("int8", None, 1.0, 0.1, 100))),
        LayerChoices("b", (Option("fp32", None, 3.0, 0.0, 400), Option("int8", None, 1.5, 0.2, 100))),
    ]
    with pytest.raises(BudgetInfeasible) as err:
        solve(layers, 2.0, fixed_ms=0.25)
    assert isinstance(err.value, UserError)
    assert err.value.binding == "latency" and err.value.fastest_ms == pytest.approx(2.75)
    assert "2.750 ms" in str(err.value)
    with pytest.raises(BudgetInfeasible) as err:
        solve(layers, 100.0, memory_budget=150)
    assert err.value.binding == "memory" and err.value.smallest_memory_bytes == 200
    # Each budget alone can be met, not both: the fast options need more memory.
    layers = [
        LayerChoices("a", (Option("int8", "im2col", 1.0, 0.1, 400), Option("int8", "slidingwin", 2.0, 0.1, 100))),
        LayerChoices("b", (Option("int8", "im2col", 1.5, 0.2, 400), Option("int8", "slidingwin", 3.0, 0.2, 100))),
    ]
    with pytest.raises(BudgetInfeasible) as err:
        solve(layers, 3.0, memory_budget=500)
    assert err.value.binding == "latency" and err.value.fastest_ms == pytest.approx(2.0 + 1.5)
    assert "within the memory budget of 500 bytes" in str(err.value)
    got = solve(layers, 3.5, memory_budget=500)
    assert [o.algorithm for o in got.choices] == ["slidingwin", "im2col"] and got.memory_bytes == 500


def test_pareto_frontier_matches_brute_force():
    rng = np.random.default_rng(5)
    layers = random_layers(rng, 5, 4)
    points = sorted(
        (sum(o.latency_ms for o in c), sum(o.cost for o in c)) for c in itertools.product(*(l.options for l in layers))
    )
    expected, best = [], np.inf
    for lat, cost in points:
        if cost < best:
            expected.append((lat, cost))
            best = cost
    front = pareto_frontier(layers)
    np.testing.assert_allclose([(p.latency_ms, p.cost) for p in front], expected, rtol=1e-12)
    for p in front:
        assert solve(layers, p.latency_ms).cost == pytest.approx(p.cost)
    assert least_cost(layers).cost == pytest.approx(expected[-1][1])


def test_bad_input_is_refused():
    layers = [LayerChoices("a", (Option("int8", None, 1.0, 0.0),))]
    with pytest.raises(UserError, match="positive"):
        solve(layers, 0.0)
    with pytest.raises(UserError, match="no candidate"):
        solve([LayerChoices("a", ())], 1.0)


def test_selection_on_a_real_graph_meets_the_budget():
    target = load_target("rpi4")
    g = conv_net(c=32, hw=32)
    weighted = [n.name for n in g.nodes if n.op_name in ("Conv", "Linear")]
    precisions = ["fp32", "int8", "w4a4", "w2a2", "w1a1"]
    penalty = {"fp32": 0.0, "int8": 0.01, "w4a4": 0.05, "w2a2": 0.2, "w1a1": 0.6}
    sens = SensitivityTable("kl", {name: {p: penalty[p] * (i + 1) for p in precisions} for i, name in enumerate(weighted)})
    problem = build_problem(target, g, precisions, sens)
    assert [layer.name for layer in problem.layers] == weighted
    assert problem.followers["conv1"] == ("relu1",)
    assert set(problem.followers["pw"]) == {"pool", "gap", "flat"}
    most_accurate = select(target, g, precisions, sens)
    assert {o.precision for o in most_accurate.solution.choices} == {"fp32"}
    budget = 0.5 * most_accurate.solution.latency_ms
    chosen = select(target, g, precisions, sens, budget_ms=budget)
    assert chosen.solution.latency_ms <= budget
    assert any(o.precision != "fp32" for o in chosen.solution.choices)
    assert set(chosen.assignment()) == set(weighted)
    assert list(chosen.warnings) == warnings_for(target, precisions)
    points = frontier(problem)
    assert points[0].latency_ms < points[-1].latency_ms and points[0].cost > points[-1].cost
    with pytest.raises(BudgetInfeasible) as err:
        select(target, g, precisions, sens, budget_ms=points[0].latency_ms * 0.5)
    assert err.value.fastest_ms == pytest.approx(points[0].latency_ms)
