"""Choosing each layer's precision and kernel for `compress`.

One allowed precision: every layer takes it (with the low-bit rule of ``quant.precision``: the first
conv and the last linear stay int8) and its fastest kernel. Several: the sensitivity of each layer
at each precision is measured on calibration data (KL divergence of the outputs, each layer
quantized alone) and the selector solves the multiple-choice knapsack under the latency and memory
budgets; without a latency budget the least-cost (most accurate) assignment is taken.
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
from ..quant.precision import uniform_precisions
from ..quant.quantize_graph import quantize_graph
from ..select import BudgetInfeasible, Selection, frontier, select
from ..select.latency import fastest_algorithm, predict_graph_ms, warnings_for
from ..select.sensitivity import measure
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


def _uniform(target, graph: Graph, precision: str, latency_ms, table) -> Plan:
    chosen = uniform_precisions(graph, precision)
    algorithms = {
        n.name: fastest_algorithm(target, graph, n, chosen[n.name]) for n in graph.nodes if n.op.WEIGHTED
    }
    if latency_ms is not None:
        trial = graph.copy()
        for node in trial.nodes:
            node.precision = chosen[node.name]
            node.algorithm = algorithms.get(node.name)
        predicted = predict_graph_ms(target, trial, table).ms
        if predicted > latency_ms:
            raise UserError(
                f"the latency budget of {latency_ms:g} ms cannot be met on {target.name}: the fastest predicted "
                f"latency at {precision} is {predicted:.3f} ms; allow more precisions or raise --latency-ms"
            )
    return Plan(graph, chosen, algorithms, None, tuple(warnings_for(target, [precision])))


def sensitivity_samples(graph: Graph) -> int:
    """How many calibration samples the sensitivity trials of ``graph`` run (see SENSITIVITY_MACS)."""
    per_sample = max(1, total_macs(graph))
    return int(min(SENSITIVITY_SAMPLES, max(SENSITIVITY_MIN_SAMPLES, SENSITIVITY_MACS // per_sample)))


def plan_precisions(target, graph: Graph, precisions: tuple, calib_x: np.ndarray, latency_ms, memory_kb,
                    table, method: str, seed: int, device: str = "cpu") -> Plan:
    """Per-node precision and per-layer kernel for a prepared float graph; sensitivity trials run
    in the torch executor on ``device``."""
    if len(precisions) == 1:
        return _uniform(target, graph, precisions[0], latency_ms, table)
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

    if latency_ms is None:
        return _plan_of(graph, select(target, graph, precisions, sensitivity_of(graph), None, memory_budget, table))

    def predicted_ms(g: Graph, plan: Plan) -> float:
        return _predict_plan(target, g, plan, ranges_of(g), method, table)

    budget, closest = latency_ms, math.inf
    for _ in range(BUDGET_ROUNDS):
        try:
            graph, selection = _select_or_merge(target, graph, precisions, sensitivity_of, budget, memory_budget,
                                                table, sample)
        except BudgetInfeasible as infeasible:
            if infeasible.binding != "latency" or infeasible.fastest_ms is None:
                raise
            fastest = _plan_of(graph, select(target, graph, precisions, sensitivity_of(graph),
                                             infeasible.fastest_ms * FASTEST_SLACK, memory_budget, table))
            fastest_ms = predicted_ms(graph, fastest)
            if fastest_ms <= latency_ms:
                return fastest
            raise _impossible(latency_ms, target, min(closest, fastest_ms)) from None
        plan = _plan_of(graph, selection)
        # The selector does not see the Quantize/Dequantize nodes placed where precisions change:
        # predict the quantized graph itself; when it misses, the cheapest frontier plan that meets
        # the budget with those nodes counted (fewer precision changes: often a uniform one), else
        # tighten the budget by the excess.
        predicted = predicted_ms(graph, plan)
        if predicted <= latency_ms:
            return plan
        fitting = _cheapest_fitting(graph, selection, latency_ms, memory_budget, predicted_ms)
        if fitting is not None:
            return fitting
        closest = min(closest, predicted)
        budget -= max(predicted - latency_ms, BUDGET_STEP * latency_ms)
        if budget <= 0:
            break
    raise _impossible(latency_ms, target, closest)


def _cheapest_fitting(graph: Graph, selection: Selection, latency_ms: float, memory_budget, predicted_ms):
    """The least-cost plan of the selector's frontier whose prediction, Quantize/Dequantize nodes
    included, meets ``latency_ms`` (the FRONTIER_TRIALS cheapest candidates), or None."""
    candidates = [s for s in frontier(selection.problem, memory_budget) if s.latency_ms <= latency_ms]
    for solution in sorted(candidates, key=lambda s: (s.cost, s.latency_ms))[:FRONTIER_TRIALS]:
        plan = _plan_of(graph, Selection(selection.problem, solution, selection.warnings))
        if predicted_ms(graph, plan) <= latency_ms:
            return plan
    return None


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
    """Select precisions; when even the fastest assignment misses the budget, merge layers and retry."""
    try:
        return graph, select(target, graph, precisions, sensitivity_of(graph), budget, memory_budget, table)
    except BudgetInfeasible as infeasible:
        if infeasible.binding != "latency" or infeasible.fastest_ms is None:
            raise
        merged = merge_to_fit(target, graph, calib_x, infeasible.fastest_ms - budget, table)
        if merged is graph:
            raise
        return merged, select(target, merged, precisions, sensitivity_of(merged), budget, memory_budget, table)


def _predict_plan(target, graph: Graph, plan: Plan, ranges, method: str, table) -> float:
    quantized = quantize_graph(graph, precisions=plan.precisions, method=method, ranges=ranges)
    for node in quantized.nodes:
        node.algorithm = plan.algorithms.get(node.name, node.algorithm)
    return predict_graph_ms(target, quantized, table).ms


def pareto_points(plan: Plan) -> list:
    """(predicted ms, estimated cost, chosen) points of the selector's frontier, for the report."""
    if plan.selection is None:
        return []
    chosen = plan.selection.solution
    points = [(s.latency_ms, s.cost, False) for s in frontier(plan.selection.problem)]
    points.append((chosen.latency_ms, chosen.cost, True))
    return points
