"""Whole-plan checks of the selector's choice: ``sensitivity.plan_costs`` measures a plan with every
layer quantized at once as the per-layer trials measure one layer, and ``pipeline.selection`` keeps
the plan whose measured cost is least among the solver's and the other plans that meet the
budgets (at most PLAN_TRIALS of them)."""

import itertools

import numpy as np
import pytest

from edgeconv.errors import UserError
from edgeconv.pipeline import selection
from edgeconv.pipeline.selection import Plan, plan_precisions
from edgeconv.quant.calibrate import calibrate
from edgeconv.quant.finetune import finetune
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.select import build_problem, select
from edgeconv.select.latency import fastest_algorithm, predict_graph_ms
from edgeconv.select.sensitivity import SensitivityTable, kl_divergence, measure, plan_costs
from edgeconv.targets import load_target

try:
    from .test_latency import conv_net
    from .test_replay import BATCH, make, whole
except ImportError:  # tests/unit collected as a plain directory (rootdir on sys.path)
    from test_latency import conv_net
    from test_replay import BATCH, make, whole

ALL_PRECISIONS = ("fp32", "int8", "w4a4", "w2a2", "w1a1")


@pytest.fixture(scope="module")
def skipnet(tmp_path_factory):
    return make(False, tmp_path_factory.mktemp("skipnet"))


def test_a_one_layer_plan_costs_its_sensitivity(skipnet, tmp_path):
    graph, x, quantize_one = skipnet
    layers = [n.name for n in graph.nodes if n.op.WEIGHTED]
    table = measure(graph, x, ("int8", "w1a1"), quantize_one, cache_dir=tmp_path, batch_size=BATCH)
    trials = [(layer, precision) for layer in layers for precision in ("int8", "w1a1")]
    costs = plan_costs(graph, x, [quantize_one(graph, layer, p) for layer, p in trials], batch_size=BATCH)
    for (layer, precision), cost in zip(trials, costs):
        assert cost == pytest.approx(table.cost(layer, precision), rel=1e-9, abs=1e-12), (layer, precision)


def test_a_whole_plan_is_the_whole_quantized_graph_against_the_float_one(skipnet):
    graph, x, _ = skipnet
    ranges = calibrate(graph, x)
    plans = [quantize_graph(graph, precisions=precision, ranges=ranges) for precision in ("int8", "w2a2")]
    costs = plan_costs(graph, x, [graph, *plans], batch_size=BATCH)
    assert costs[0] == 0.0
    for plan, cost in zip(plans, costs[1:]):
        assert cost == kl_divergence(whole(graph, x), whole(plan, x))
    assert 0 < costs[1] < costs[2]


def test_the_top1_metric_needs_labels(skipnet):
    graph, x, _ = skipnet
    with pytest.raises(UserError, match="needs labels"):
        plan_costs(graph, x, [graph], metric="top1")


def plans_of(graph, names):
    """One Plan per name: every weighted layer at fp32 but the first, at the precision ``name``."""
    first = next(n.name for n in graph.nodes if n.op.WEIGHTED)
    rest = {n.name: "fp32" for n in graph.nodes if n.op.WEIGHTED and n.name != first}
    return [Plan(graph, {first: name, **rest}, {}, None, ()) for name in names]


class Costs:
    """Measured costs by the first layer's precision, with the plans each call was given."""

    def __init__(self, by_precision: dict):
        self.by_precision = by_precision
        self.calls = []

    def __call__(self, plans):
        self.calls.append(plans)
        return [self.by_precision[next(iter(p.precisions.values()))] for p in plans]


def test_the_least_measured_plan_is_kept_the_earliest_on_ties(skipnet):
    graph = skipnet[0]
    costs = Costs({"int8": 0.5, "w4a4": 0.1, "w2a2": 0.1, "w1a1": 3.0})
    chosen = selection._least_measured_cost(iter(plans_of(graph, ["w1a1", "int8", "w4a4", "w2a2"])), costs)
    assert chosen.precisions == plans_of(graph, ["w4a4"])[0].precisions
    assert len(costs.calls) == 1 and len(costs.calls[0]) == 4


def test_trials_are_bounded_distinct_and_skipped_for_a_lone_plan(skipnet):
    graph = skipnet[0]
    precisions = ["int8", "w4a4", "w2a2", "w1a1", "w3a3", "w5a5", "w6a6", "w7a7"]
    costs = Costs({p: float(i) for i, p in enumerate(reversed(precisions))})
    endless = itertools.cycle(plans_of(graph, precisions))  # repeats: each distinct plan is tried once
    chosen = selection._least_measured_cost(endless, costs)
    tried = costs.calls[0]
    assert len(tried) == selection.PLAN_TRIALS
    assert [next(iter(p.precisions.values())) for p in tried] == precisions[:selection.PLAN_TRIALS]
    assert chosen is tried[-1]  # the later precisions cost less here

    lone = Costs({"int8": 1.0})
    twice = plans_of(graph, ["int8", "int8"])
    assert selection._least_measured_cost(iter(twice), lone) is twice[0]
    assert lone.calls == []


def test_a_uniform_solution_keeps_the_low_bit_rule_and_the_fastest_kernels():
    graph = conv_net(c=8, hw=8)
    layers = [n.name for n in graph.nodes if n.op.WEIGHTED]
    table = SensitivityTable("kl", {layer: {"int8": 0.01 * (i + 1), "w1a1": 1.0 + i} for i, layer in enumerate(layers)})
    problem = build_problem(load_target("rpi4"), graph, ("fp32", "int8", "w1a1"), table)
    solution = selection._uniform_solution(problem, graph, "w1a1")
    by_layer = solution.by_layer(problem.layers)
    assert [by_layer[layer].precision for layer in layers] == ["int8", "w1a1", "w1a1", "int8"]  # conv1 .. fc
    for layer in problem.layers:
        same = [o.latency_ms for o in layer.options if o.precision == by_layer[layer.name].precision]
        assert by_layer[layer.name].latency_ms == min(same)
    assert solution.latency_ms == pytest.approx(problem.fixed_ms + sum(o.latency_ms for o in solution.choices))
    assert solution.cost == pytest.approx(0.01 + 2.0 + 3.0 + 0.04)
    binary_only = build_problem(load_target("rpi4"), graph, ("fp32", "w1a1"), table)
    assert selection._uniform_solution(binary_only, graph, "w1a1") is None  # conv1 and fc have no int8 option


def shipped_ms(board, x, plan: Plan) -> float:
    """The selection's prediction of ``plan``, on ranges calibrated on ``x``."""
    float_graph = selection.shipped_float_graph(plan.graph, plan.precisions)
    return selection._predict_plan(board, float_graph, plan, calibrate(float_graph, x), "minmax", None)


# SkipNet's stem ReLU is read by body.0 and by the residual Add: with body.0 binary, the shipped graph
# has body.0 binarize the stem's pre-activation and a Clip restore the ReLU for the Add (fp32 or
# int8 as the stem is); its int8 mean is an AvgPool; a w2a2 body.0 reads a requantized copy of the
# stem's int8 output, stored as a depthwise unit convolution.
SHIPPED_FORMS = (
    {"stem.0": "fp32", "body.0": "w1a1", "body.3": "int8", "fc": "fp32"},
    {"stem.0": "int8", "body.0": "w1a1", "body.3": "w1a1", "fc": "int8"},
    {"stem.0": "int8", "body.0": "w2a2", "body.3": "int8", "fc": "int8"},
    {"stem.0": "int8", "body.0": "int8", "body.3": "int8", "fc": "int8"},
)


@pytest.mark.parametrize("chosen", SHIPPED_FORMS, ids=lambda chosen: "-".join(chosen.values()))
@pytest.mark.parametrize("target", ["host", "rpi4"])
def test_a_plan_is_predicted_as_the_graph_that_ships(skipnet, chosen, target):
    graph, x, _ = skipnet
    board = load_target(target)
    algorithms = {n.name: fastest_algorithm(board, graph, n, chosen[n.name])
                  for n in graph.nodes if n.op.WEIGHTED}
    shipped = finetune(graph, chosen, x, epochs=0)
    for node in shipped.nodes:
        node.algorithm = algorithms.get(node.name, node.algorithm)
    plan = Plan(graph, chosen, algorithms, None, ())
    assert shipped_ms(board, x, plan) == predict_graph_ms(board, shipped).ms


@pytest.mark.parametrize("precision", ["int8", "w1a1"])
def test_one_precision_is_refused_exactly_where_the_graph_that_ships_misses_the_budget(skipnet, precision):
    graph, x, _ = skipnet
    board = load_target("rpi4")
    uniform = plan_precisions(board, graph, (precision,), x, None, None, None, "minmax", seed=0)
    shipped = shipped_ms(board, x, uniform)
    assert plan_precisions(board, graph, (precision,), x, shipped, None, None, "minmax", seed=0).precisions \
        == uniform.precisions
    with pytest.raises(UserError, match=f"fastest predicted latency at {precision} is {shipped:.3f} ms"):
        plan_precisions(board, graph, (precision,), x, shipped * (1 - 1e-6), None, None, "minmax", seed=0)


def whole_cost(graph, x, plan: Plan) -> float:
    quantized = quantize_graph(plan.graph, precisions=plan.precisions, ranges=calibrate(plan.graph, x))
    return plan_costs(graph, x, [quantized])[0]


@pytest.mark.parametrize("target", ["host", "rpi4"])
def test_at_the_all_int8_latency_the_plan_measures_no_worse_than_all_int8(skipnet, target):
    """Every precision allowed and a budget equal to the all-int8 plan's prediction: what is
    chosen meets the budget and measures at most the all-int8 plan's cost on the same samples."""
    graph, x, _ = skipnet
    board = load_target(target)
    int8 = plan_precisions(board, graph, ("int8",), x, None, None, None, "minmax", seed=0)
    budget = shipped_ms(board, x, int8)
    chosen = plan_precisions(board, graph, ALL_PRECISIONS, x, budget, None, None, "minmax", seed=0)
    assert shipped_ms(board, x, chosen) <= budget
    assert whole_cost(graph, x, chosen) <= whole_cost(graph, x, int8)


def test_without_budgets_the_float_plan_is_taken_untried(skipnet, monkeypatch):
    graph, x, _ = skipnet
    monkeypatch.setattr(selection, "plan_costs", lambda *args, **kwargs: pytest.fail("a plan was run"))
    plan = plan_precisions(load_target("host"), graph, ALL_PRECISIONS, x, None, None, None, "minmax", seed=0)
    assert set(plan.precisions.values()) == {"fp32"}


def test_under_a_memory_budget_the_plan_fits_it_and_measures_no_worse_than_the_solvers(skipnet):
    graph, x, _ = skipnet
    board = load_target("host")
    precisions = ALL_PRECISIONS[1:]
    sample = x[np.random.default_rng(0).permutation(len(x))]  # what plan_precisions draws with seed 0
    table = measure(graph, sample, precisions, selection._quantize_one_factory(calibrate(graph, sample), "minmax"))
    int8_bytes = selection._uniform_solution(build_problem(board, graph, precisions, table), graph, "int8").memory_bytes
    memory_budget = int(0.75 * int8_bytes)  # some layers must go below 8 bits
    solver = selection._plan_of(graph, select(board, graph, precisions, table, None, memory_budget))
    chosen = plan_precisions(board, graph, precisions, x, None, memory_budget / 1024, None, "minmax", seed=0)
    assert chosen.selection.solution.memory_bytes <= memory_budget
    assert set(chosen.precisions.values()) != {"int8"}
    assert whole_cost(graph, x, chosen) <= whole_cost(graph, x, solver) * (1 + 1e-9)
