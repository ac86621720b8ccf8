"""Fitting the ARM latency model's figures to the instrument's per-layer estimates.

Each layer call of an estimate (:mod:`.estimate`) becomes one row: the figure set it is priced by
(its NEON kernel's ``ArmCost`` or its op kernel's ``ArmElementCost``), the counted events of the
call as the latency model counts them (``select.latency.arm_kernel_terms`` and
``arm_element_terms``: the same functions price the layer afterwards), and the estimated compute
cycles. The model is linear in its figures::

    cycles = layer_overhead + sum over the call's terms of figure[set, term] * count[term]

so the figures are a non-negative least-squares solution, on relative errors (every layer counts
alike, whatever its size). Each set has its own fixed cost per call (``call``: a shared overhead
and the sets' own would not be told apart), and ``layer_overhead`` (``[latency]
layer_overhead_cycles``, what every layer call costs, the ops without ARM figures included) is the
least of them, taken out of each. A term that is zero on every row of its set is left out (its
figure 0). Left out: layer calls of fewer than ``ABSORBED_CYCLES`` estimated cycles (the C model
absorbed the node into its neighbour's call, a sign before an XNOR convolution, which the latency
model does not know), and memory-bound calls (the estimate's memory term above its compute cycles:
their time is the bandwidth's, and their arithmetic may run on a kernel the latency model does not
cost, such as the binary fully connected one the C lowering picks for binary operands), and
layers whose kernel has no ARM walk (``arm_work.WALKED_KERNELS``: portable C, priced by its
portable figures, such as the direct fp32 convolution).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph
from ..kernels.arm_work import TERMS, WALKED_KERNELS, ArmCost, ArmElementCost
from ..kernels.geometry import geometry
from ..quant.precision import parse_precision
from ..kernels.registry import kernel as kernel_named
from ..select.latency import arm_element_kernel, arm_element_terms, arm_kernel_terms
from ..targets import Target

ABSORBED_CYCLES = 50
ELEMENT_TERMS = ("count", "partial", "call")


@dataclass(frozen=True)
class Row:
    """One layer call: its figure set (``("kernel", name)`` or ``("element", name, per)``), its
    counted events and its estimated compute cycles; ``model`` names the model it came from."""

    figure_set: tuple
    terms: dict
    cycles: float
    model: str = ""


def rows_of(estimate, graph: Graph, target: Target, model: str = "") -> list:
    """The rows of a ``GraphEstimate`` of ``graph`` on ``target`` (int8, binary and fp32 layers)."""
    rows = []
    for layer in estimate.layers:
        node = graph.node(layer.name)
        if layer.compute_cycles < ABSORBED_CYCLES or layer.memory_cycles > layer.compute_cycles:
            continue
        if node.op.WEIGHTED:
            kernel = kernel_named(node.algorithm)
            if kernel.name not in WALKED_KERNELS:
                continue
            terms = arm_kernel_terms(target, geometry(graph, node), parse_precision(node.precision), kernel)
            rows.append(Row(("kernel", kernel.name), terms, layer.compute_cycles, model))
            continue
        kernel = arm_element_kernel(graph, node, graph.tensors[node.output].dtype == "float32")
        if kernel is None or node.op.LAYOUT_ONLY:
            continue
        level_costs = list(kernel.arm_element.values())
        per = level_costs[0].per if level_costs else "element"
        rows.append(Row(("element", kernel.name, per), arm_element_terms(graph, node, per), layer.compute_cycles,
                        model))
    return rows


@dataclass
class Fit:
    """The fitted figures: the shared per-layer overhead and, per figure set, term -> cycles."""

    layer_overhead: float
    figures: dict

    def predict(self, row: Row) -> float:
        figures = self.figures.get(row.figure_set, {})
        return self.layer_overhead + sum(figures.get(term, 0.0) * count for term, count in row.terms.items())

    def cost(self, figure_set: tuple):
        """The registry object for one figure set: ``ArmCost`` or ``ArmElementCost``."""
        figures = self.figures[figure_set]
        if figure_set[0] == "kernel":
            return ArmCost(**{term: figures.get(term, 0.0) for term in TERMS})
        return ArmElementCost(figure_set[2], figures.get("count", 0.0), figures.get("partial", 0.0),
                              figures.get("call", 0.0))


def fit(rows: list) -> Fit:
    """Non-negative least squares of the relative error over ``rows`` (module docstring)."""
    from scipy.optimize import nnls

    columns = []
    for figure_set in sorted({row.figure_set for row in rows}):
        names = TERMS if figure_set[0] == "kernel" else ELEMENT_TERMS
        used = [t for t in names if any(row.terms.get(t, 0) for row in rows if row.figure_set == figure_set)]
        columns += [(figure_set, term) for term in used]
    index = {column: i for i, column in enumerate(columns)}
    matrix = np.zeros((len(rows), len(columns)))
    for r, row in enumerate(rows):
        for term, count in row.terms.items():
            if (row.figure_set, term) in index:
                matrix[r, index[(row.figure_set, term)]] = count
    cycles = np.array([row.cycles for row in rows], dtype=float)
    solution, _ = nnls(matrix / cycles[:, None], np.ones(len(rows)))
    figures: dict = {}
    for (figure_set, term), value in zip(columns, solution):
        figures.setdefault(figure_set, {})[term] = float(value)
    overhead = min(f.get("call", 0.0) for f in figures.values())
    for f in figures.values():
        if "call" in f:
            f["call"] -= overhead
    return Fit(overhead, figures)


def held_out_errors(rows: list) -> dict:
    """model -> relative error of its summed cycles predicted by a fit over the other models' rows
    (figure sets that only the held-out model has are priced at zero: a missed set shows)."""
    errors = {}
    for model in sorted({row.model for row in rows}):
        kept = [row for row in rows if row.model != model]
        held = [row for row in rows if row.model == model]
        fitted = fit(kept)
        errors[model] = sum(fitted.predict(row) for row in held) / sum(row.cycles for row in held) - 1.0
    return errors
