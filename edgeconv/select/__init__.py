"""Latency-constrained selection: per layer, a precision and a kernel variant (DESIGN §1, §4).

The pieces: ``latency`` predicts the time of a layer on a target (measured table, else roofline),
``sensitivity`` measures the cost of quantizing each layer alone, ``candidates`` lists the kernel
variants that can run a layer, and ``solver`` picks one option per layer exactly.

``build_problem`` turns a float graph into the solver's input. Each Conv/Linear layer gets one
option per (allowed precision, kernel variant able to run it), with

- latency: the layer's predicted time plus that of the ops it *leads* at the same precision (the
  ops without weights that follow it before the next weighted layer: activations, pooling,
  residual adds, which run on int8 or fp32 tensors as their leader does);
- cost: the layer's sensitivity at that precision;
- memory: the bytes of weights, bias and multipliers it stores.

Ops that no weighted layer leads (before the first one) are a fixed latency, predicted at the
graph's own dtypes. Quantize/Dequantize ops inserted where precisions change are not counted:
they are element-wise and small next to the layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import UserError
from ..ir import Graph
from ..targets import Target
from ..kernels.geometry import geometry
from ..quant.precision import parse_precision
from .candidates import variants_for, weight_bytes
from .latency import predict_layer_ms, warnings_for
from .latency_table import LatencyTable
from .sensitivity import SensitivityTable
from .solver import BudgetInfeasible, LayerChoices, Option, Solution, least_cost, pareto_frontier, solve

__all__ = [
    "SelectionProblem", "Selection", "build_problem", "select", "leaders",
    "frontier", "BudgetInfeasible", "LayerChoices", "Option", "Solution",
]


@dataclass(frozen=True)
class SelectionProblem:
    layers: tuple           # LayerChoices per weighted layer, in graph order
    fixed_ms: float         # ops no weighted layer leads
    followers: dict         # weighted layer name -> names of the ops it leads


@dataclass(frozen=True)
class Selection:
    problem: SelectionProblem
    solution: Solution
    warnings: tuple

    def assignment(self) -> dict:
        """Layer name -> (precision, algorithm) of the chosen option."""
        return {layer.name: (o.precision, o.algorithm) for layer, o in zip(self.problem.layers, self.solution.choices)}


def leaders(graph: Graph) -> dict:
    """Node name -> the weighted layer whose output it follows (itself for weighted layers), or None.

    A node without weights follows the leader of the producer of its first activation input.
    """
    producer = {n.output: n.name for n in graph.nodes}
    lead: dict = {}
    for node in graph.nodes:
        if node.op.WEIGHTED:
            lead[node.name] = node.name
            continue
        first = next((i for i in node.inputs if i is not None and not graph.tensors[i].is_constant), None)
        lead[node.name] = lead.get(producer.get(first))
    return lead


def build_problem(
    target: Target, graph: Graph, precisions, sensitivity: SensitivityTable,
    table: Optional[LatencyTable] = None, threads: Optional[int] = None,
) -> SelectionProblem:
    """The options of every weighted layer of ``graph`` (see the module docstring), predicted at
    ``threads`` threads (None: the target's ``threads``, what the C model runs with)."""
    specs = [parse_precision(p) for p in precisions]
    if not specs:
        raise UserError("no precisions to choose from")
    lead = leaders(graph)
    followers = {n.name: [] for n in graph.nodes if n.op.WEIGHTED}
    fixed_ms = 0.0
    for node in graph.nodes:
        owner = lead[node.name]
        if owner is None:
            fixed_ms += predict_layer_ms(target, graph, node, threads=threads, table=table)
        elif owner != node.name:
            followers[owner].append(node)
    layers = []
    for node in graph.nodes:
        if not node.op.WEIGHTED:
            continue
        geo = geometry(graph, node)
        options = []
        for spec in specs:
            follow_ms = sum(predict_layer_ms(target, graph, f, spec.name, threads=threads, table=table) for f in followers[node.name])
            cost = sensitivity.cost(node.name, spec.name)
            for kernel in variants_for(geo, spec):
                ms = predict_layer_ms(target, graph, node, spec.name, kernel.name, threads=threads, table=table)
                options.append(Option(spec.name, kernel.name, ms + follow_ms, cost, weight_bytes(geo, spec, kernel)))
        if not options:
            raise UserError(f"no kernel runs layer {node.name} at any of the precisions {', '.join(precisions)}")
        layers.append(LayerChoices(node.name, tuple(options)))
    return SelectionProblem(tuple(layers), fixed_ms, {k: tuple(f.name for f in v) for k, v in followers.items()})


def select(
    target: Target, graph: Graph, precisions, sensitivity: SensitivityTable, budget_ms: Optional[float] = None,
    memory_budget: Optional[int] = None, table: Optional[LatencyTable] = None, threads: Optional[int] = None,
) -> Selection:
    """The least-cost choice within the budgets; without ``budget_ms`` the most accurate one."""
    problem = build_problem(target, graph, precisions, sensitivity, table, threads)
    if budget_ms is None:
        solution = least_cost(problem.layers, memory_budget, problem.fixed_ms)
    else:
        solution = solve(problem.layers, budget_ms, memory_budget, problem.fixed_ms)
    return Selection(problem, solution, tuple(warnings_for(target, precisions)))


def frontier(problem: SelectionProblem, memory_budget: Optional[int] = None) -> list:
    """Latency-versus-cost Pareto frontier of a problem (for the report), fastest first."""
    return pareto_frontier(problem.layers, memory_budget, problem.fixed_ms)
