"""Choosing each layer's precision and kernel for `compress`.

One allowed precision: every layer takes it (with the low-bit rule of ``quant.precision``: the first
conv and the last linear stay int8) and its fastest kernel. Several: the sensitivity of each layer
at each precision is measured on calibration data (KL divergence of the outputs, each layer
quantized alone) and the selector solves the multiple-choice knapsack under the latency and memory
budgets; without a latency budget the least-cost (most accurate) assignment is taken.

The knapsack adds the layers' costs, and errors compound: low-bit layers together can cost far
more than the sum of their costs alone, so that a mix of fp32, int8 and binary layers the solver
rates cheap loses most of the accuracy an all-int8 plan of the same latency keeps. So the
solver's plan is checked: it and other plans that meet the budgets (the uniform plan with the most
bits, then the solver's frontier plans by estimated cost) are run whole on the same calibration
samples and compared with the float model as the sensitivities are (``sensitivity.plan_costs``),
at most PLAN_TRIALS plans, and the plan whose measured cost is least is taken (ties: the solver's
plan, then that order). A plan meeting a latency budget is sought first from the solver (see
``_meeting_budget``); when it finds none, the uniform plan with the most bits that meets the
budget is taken.

Whether a plan meets a latency budget is decided on the prediction of the integer graph that
``compress`` ships for it (``_predict_plan``), not on the plan's graph quantized as it is: the
binary layers' float rewrite and the single-rounding forms add or replace nodes that cost time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..analysis import total_macs
from ..errors import UserError
from ..ir import Graph
from ..quant.calibrate import calibrate
from ..quant.finetune import integer_graph
from ..quant.precision import parse_precision, resolve_precisions, uniform_precisions
from ..quant.quantize_graph import binary_rewritten, quantize_graph
from ..select import BudgetInfeasible, Selection, SelectionProblem, Solution, build_problem, frontier, select
from ..select.latency import fastest_algorithm, predict_graph_ms, warnings_for
from ..select.sensitivity import measure, plan_costs
from .merging import merge_to_fit

# Samples a sensitivity trial runs: at most SENSITIVITY_SAMPLES, and at most as many as keep one
# pass over them within SENSITIVITY_MACS multiply-accumulates, but never fewer than
# SENSITIVITY_MIN_SAMPLES. The digit-sized zoo nets (1 to 12 MMAC) keep all 256; a 224x224
# MobileNetV2 (300 MMAC) or ResNet-18 (1.8 GMAC) runs 16, since every layer's trials replay the
# rest of the network (about half of it on average) once per precision. The same count on every
# device, so a selection does not depend on where it ran.
SENSITIVITY_SAMPLES = 256
SENSITIVITY_MIN_SAMPLES = 16
SENSITIVITY_MACS = 1 << 32
# Selections tried while tightening the budget by the cost of inserted Quantize/Dequantize nodes.
BUDGET_ROUNDS = 8
BUDGET_STEP = 0.02  # least tightening per round, as a fraction of the budget
# The solver rounds latencies up on its grid: its own fastest latency needs a hair of slack.
FASTEST_SLACK = 1.001
# Frontier plans predicted with their Quantize/Dequantize nodes before the budget is tightened
# (each prediction quantizes the graph once).
FRONTIER_TRIALS = 16
# Whole plans run on the sensitivity samples to check the solver's choice (module docstring): one
# trial is one pass of the fully quantized graph, so the check costs at most PLAN_TRIALS passes (a
# 224x224 network runs 16 samples per pass).
PLAN_TRIALS = 5


@dataclass
class Plan:
    graph: Graph           # the prepared float graph the plan is for (merged when merging was needed)
    precisions: dict       # node name -> precision name
    algorithms: dict       # weighted node name -> kernel variant name
    selection: Optional[Selection]
    warnings: tuple


def _quantize_one_factory(ranges, method: str):
    def quantize_one(g: Graph, layer: str, precision: str) -> Graph:
        chosen = {n.name: "fp32" for n in g.nodes if n.op.WEIGHTED}
        chosen[layer] = precision
        return quantize_graph(g, precisions=chosen, method=method, ranges=ranges)

    return quantize_one


def _uniform(target, graph: Graph, precision: str, latency_ms, predicted_ms) -> Plan:
    """Every layer at ``precision`` on its fastest kernel; refused when its prediction
    (``predicted_ms(graph, plan)``) misses ``latency_ms``."""
    chosen = uniform_precisions(graph, precision)
    algorithms = {
        n.name: fastest_algorithm(target, graph, n, chosen[n.name]) for n in graph.nodes if n.op.WEIGHTED
    }
    plan = Plan(graph, chosen, algorithms, None, tuple(warnings_for(target, [precision])))
    if latency_ms is not None:
        predicted = predicted_ms(graph, plan)
        if predicted > latency_ms:
            raise UserError(
                f"the latency budget of {latency_ms:g} ms cannot be met on {target.name}: the fastest predicted "
                f"latency at {precision} is {predicted:.3f} ms; allow more precisions or raise --latency-ms"
            )
    return plan


def sensitivity_samples(graph: Graph) -> int:
    """How many calibration samples the sensitivity trials of ``graph`` run (see SENSITIVITY_MACS)."""
    per_sample = max(1, total_macs(graph))
    return int(min(SENSITIVITY_SAMPLES, max(SENSITIVITY_MIN_SAMPLES, SENSITIVITY_MACS // per_sample)))


def plan_precisions(target, graph: Graph, precisions: tuple, calib_x: np.ndarray, latency_ms, memory_kb,
                    table, method: str, seed: int, device: str = "cpu") -> Plan:
    """Per-node precision and per-layer kernel for a prepared float graph (the selector's plan,
    checked against other plans: see the module docstring); sensitivity and whole-plan trials run in
    the torch executor on ``device``."""
    rng = np.random.default_rng(seed)
    sample = calib_x[rng.permutation(len(calib_x))[:sensitivity_samples(graph)]]
    memory_budget = int(memory_kb * 1024) if memory_kb is not None else None

    # The budget loop revisits the same graph (a new one only after merging): calibrate and measure
    # each graph once.
    ranges, sensitivities = {}, {}

    def ranges_of(g: Graph):
        if id(g) not in ranges:
            ranges[id(g)] = calibrate(g, sample, method)
        return ranges[id(g)]

    def sensitivity_of(g: Graph):
        if id(g) not in sensitivities:
            sensitivities[id(g)] = measure(g, sample, precisions, _quantize_one_factory(ranges_of(g), method),
                                           label=f"edgeconv-{method}", device=device)
        return sensitivities[id(g)]

    # The float graphs the predicted integer graphs derive from, kept alive for ranges_of's keys:
    # (graph id, its XNOR layers) -> the graph rewritten for them.
    prepared = {}

    def prepared_of(g: Graph, chosen: dict) -> Graph:
        key = (id(g), xnor_layers(g, chosen))
        if key not in prepared:
            prepared[key] = shipped_float_graph(g, chosen)
        return prepared[key]

    def predicted_ms(g: Graph, plan: Plan) -> float:
        float_graph = prepared_of(g, plan.precisions)
        return _predict_plan(target, float_graph, plan, ranges_of(float_graph), method, table)

    if len(precisions) == 1:
        return _uniform(target, graph, precisions[0], latency_ms, predicted_ms)

    def whole_plan_costs(plans: list) -> list:
        quantized = [quantize_graph(p.graph, precisions=p.precisions, method=method, ranges=ranges_of(p.graph))
                     for p in plans]
        return plan_costs(graph, sample, quantized, device=device)

    if latency_ms is None:
        selected = _plan_of(graph, select(target, graph, precisions, sensitivity_of(graph), None, memory_budget, table))
        closest = math.inf
    else:
        selected, closest = _meeting_budget(target, graph, precisions, sensitivity_of, predicted_ms, latency_ms,
                                            memory_budget, table, sample)
    if selected is not None and all(precision == "fp32" for precision in selected.precisions.values()):
        return selected  # the float model costs nothing: no plan can do better
    problem = (selected.selection.problem if selected is not None and selected.graph is graph
               else build_problem(target, graph, precisions, sensitivity_of(graph), table))
    candidates = _candidates(selected, graph, problem, precisions, tuple(warnings_for(target, precisions)), latency_ms,
                             memory_budget, predicted_ms)
    chosen = _least_measured_cost(candidates, whole_plan_costs)
    if chosen is None:
        raise _impossible(latency_ms, target, closest)
    return chosen


def _meeting_budget(target, graph: Graph, precisions, sensitivity_of, predicted_ms, latency_ms: float,
                    memory_budget, table, sample) -> tuple:
    """(the selector's plan whose prediction, Quantize/Dequantize nodes included, meets
    ``latency_ms``, layers merged when precision alone cannot; the closest prediction reached).
    The plan is None when none was found."""
    budget, closest = latency_ms, math.inf
    for _ in range(BUDGET_ROUNDS):
        graph, selection, fastest_ms = _select_or_merge(target, graph, precisions, sensitivity_of, budget,
                                                        memory_budget, table, sample)
        if selection is None:
            fastest = _plan_of(graph, select(target, graph, precisions, sensitivity_of(graph),
                                             fastest_ms * FASTEST_SLACK, memory_budget, table))
            fastest_ms = predicted_ms(graph, fastest)
            return (fastest if fastest_ms <= latency_ms else None), min(closest, fastest_ms)
        plan = _plan_of(graph, selection)
        # The selector does not see the Quantize/Dequantize nodes placed where precisions change:
        # predict the quantized graph itself; when it misses, the cheapest frontier plan that meets
        # the budget with those nodes counted (fewer precision changes: often a uniform one), else
        # tighten the budget by the excess.
        predicted = predicted_ms(graph, plan)
        if predicted <= latency_ms:
            return plan, predicted
        fitting = next(_fitting_frontier(graph, selection, latency_ms, memory_budget, predicted_ms), None)
        if fitting is not None:
            return fitting, predicted
        closest = min(closest, predicted)
        budget -= max(predicted - latency_ms, BUDGET_STEP * latency_ms)
        if budget <= 0:
            break
    return None, closest


def _fitting_frontier(graph: Graph, selection: Selection, latency_ms: Optional[float], memory_budget, predicted_ms):
    """The plans of the selector's frontier whose prediction, Quantize/Dequantize nodes included,
    meets ``latency_ms`` (None: every plan), least estimated cost first, out of the FRONTIER_TRIALS
    cheapest that the solver places within it."""
    solutions = [s for s in frontier(selection.problem, memory_budget)
                 if latency_ms is None or s.latency_ms <= latency_ms]
    for solution in sorted(solutions, key=lambda s: (s.cost, s.latency_ms))[:FRONTIER_TRIALS]:
        plan = _plan_of(graph, Selection(selection.problem, solution, selection.warnings))
        if latency_ms is None or predicted_ms(graph, plan) <= latency_ms:
            yield plan


def _uniform_solution(problem: SelectionProblem, graph: Graph, precision: str) -> Optional[Solution]:
    """Every layer of ``problem`` at ``precision`` (the low-bit rule of ``uniform_precisions``
    applied) on its fastest option, or None when some layer has no option there."""
    wanted = uniform_precisions(graph, precision)
    choices = []
    for layer in problem.layers:
        options = [o for o in layer.options if o.precision == wanted[layer.name]]
        if not options:
            return None
        choices.append(min(options, key=lambda o: o.latency_ms))
    return Solution(tuple(choices), problem.fixed_ms + sum(o.latency_ms for o in choices),
                    sum(o.cost for o in choices), sum(o.memory_bytes for o in choices))


def _uniform_plans(graph: Graph, problem: SelectionProblem, precisions, warnings: tuple):
    """The uniform plan of each allowed precision that ``problem``'s layers can all take, most bits
    first."""
    for precision in sorted(precisions, key=lambda p: -parse_precision(p).weight_bits):
        solution = _uniform_solution(problem, graph, precision)
        if solution is not None:
            yield _plan_of(graph, Selection(problem, solution, warnings))


def _candidates(selected: Optional[Plan], graph: Graph, problem: SelectionProblem, precisions, warnings: tuple,
                latency_ms: Optional[float], memory_budget, predicted_ms):
    """The plans the selector's plan (None: none met the budget) is checked against, in order of
    trial: itself, the uniform plan of ``graph`` with the most bits and the frontier plans of the
    selector's problem, each when it meets the budgets (lazily: a plan is predicted only when it is
    reached). A uniform plan with fewer bits than one that fits is not tried: it only adds error
    on every layer."""
    if selected is not None:
        yield selected
    for plan in _uniform_plans(graph, problem, precisions, warnings):
        fits_memory = memory_budget is None or plan.selection.solution.memory_bytes <= memory_budget
        if fits_memory and (latency_ms is None or predicted_ms(graph, plan) <= latency_ms):
            yield plan
            break
    if selected is not None:
        yield from _fitting_frontier(selected.graph, selected.selection, latency_ms, memory_budget, predicted_ms)


def _same_plan(a: Plan, b: Plan) -> bool:
    return a.graph is b.graph and a.precisions == b.precisions and a.algorithms == b.algorithms


def _least_measured_cost(candidates, whole_plan_costs) -> Optional[Plan]:
    """Of the first PLAN_TRIALS distinct plans of ``candidates``, the one whose measured cost
    (``whole_plan_costs(plans) -> costs``) is least, the earliest on ties; a lone plan untried;
    None without candidates."""
    plans: list = []
    for plan in candidates:
        if not any(_same_plan(plan, other) for other in plans):
            plans.append(plan)
        if len(plans) == PLAN_TRIALS:
            break
    if len(plans) <= 1:
        return plans[0] if plans else None
    costs = whole_plan_costs(plans)
    return plans[costs.index(min(costs))]


def _impossible(latency_ms: float, target, fastest_ms: float) -> UserError:
    return UserError(
        f"the latency budget of {latency_ms:g} ms cannot be met on {target.name}: the fastest predicted latency "
        f"reachable is {fastest_ms:.4f} ms; raise --latency-ms or allow lower precisions"
    )


def _plan_of(graph: Graph, selection: Selection) -> Plan:
    assignment = selection.assignment()
    chosen = {name: precision for name, (precision, _) in assignment.items()}
    algorithms = {name: algorithm for name, (_, algorithm) in assignment.items()}
    return Plan(graph, chosen, algorithms, selection, selection.warnings)


def _select_or_merge(target, graph: Graph, precisions, sensitivity_of, budget, memory_budget, table, calib_x):
    """(graph, selection, None): precisions selected within the budget, layers merged first when even
    the fastest assignment misses it; (graph, None, fastest ms the solver reaches on that graph) when
    the last graph tried still misses it."""
    try:
        return graph, select(target, graph, precisions, sensitivity_of(graph), budget, memory_budget, table), None
    except BudgetInfeasible as infeasible:
        if infeasible.binding != "latency" or infeasible.fastest_ms is None:
            raise
        merged = merge_to_fit(target, graph, calib_x, infeasible.fastest_ms - budget, table)
        if merged is graph:
            return graph, None, infeasible.fastest_ms
    try:
        return merged, select(target, merged, precisions, sensitivity_of(merged), budget, memory_budget, table), None
    except BudgetInfeasible as infeasible:
        if infeasible.binding != "latency" or infeasible.fastest_ms is None:
            raise
        return merged, None, infeasible.fastest_ms


def xnor_layers(graph: Graph, chosen: dict) -> frozenset:
    """The layers of ``graph`` that ``chosen`` (node name -> precision) makes binary."""
    return frozenset(name for name, p in resolve_precisions(graph, chosen).items() if p.kind == "xnor")


def shipped_float_graph(graph: Graph, chosen: dict) -> Graph:
    """The float graph from which ``compress`` derives the integer graph it ships for ``chosen``
    (``quantize_graph.binary_rewritten``): ``graph`` itself without binary layers."""
    return binary_rewritten(graph, resolve_precisions(graph, chosen)) if xnor_layers(graph, chosen) else graph


def _predict_plan(target, float_graph: Graph, plan: Plan, ranges, method: str, table) -> float:
    """The prediction of the integer graph ``compress`` ships for ``plan``
    (``finetune.integer_graph`` of ``float_graph``, the plan's graph as ``shipped_float_graph``
    rewrites it, with its calibrated ``ranges``): the nodes that the binary layers' rewrite adds
    where such a layer and another reader share a ReLU output, and the single-rounding forms of
    means and int8 requantizations, cost time that the plan's graph quantized as it is does not
    show. Those nodes follow from the precisions alone, so the float ranges give the nodes that
    the ranges which ship give."""
    shipped = integer_graph(float_graph, plan.precisions, method, ranges)
    for node in shipped.nodes:
        node.algorithm = plan.algorithms.get(node.name, node.algorithm)
    return predict_graph_ms(target, shipped, table).ms


def pareto_points(plan: Plan) -> list:
    """(predicted ms, estimated cost, chosen) points of the selector's frontier, for the report."""
    if plan.selection is None:
        return []
    chosen = plan.selection.solution
    points = [(s.latency_ms, s.cost, False) for s in frontier(plan.selection.problem)]
    points.append((chosen.latency_ms, chosen.cost, True))
    return points
