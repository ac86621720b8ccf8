"""Latency-constrained choice of one option per layer: an exact multiple-choice knapsack.

Problem: each layer ``i`` offers options ``o`` with ``(latency_ms, cost, memory_bytes)``; choose
one per layer to minimize ``sum cost`` subject to ``fixed_ms + sum latency <= budget_ms`` and,
when given, ``fixed_memory + sum memory <= memory_budget``. Ties are broken by lower latency, then
lower memory; the result is deterministic.

Algorithm: dynamic programming over Pareto sets (Nemhauser-Ullmann). After layer ``i`` the state
is the set of partial choices for layers ``0..i`` that no other partial choice dominates
(``<=`` in latency, memory and cost, and not equal in all three: equal points keep one). Adding
the same options for the remaining layers to a dominated partial choice gives a complete choice
dominated by the same completion of its dominator, so dropping it never loses the optimum. Partial
choices that cannot meet a budget even with the fastest (or smallest) option of every remaining
layer are dropped too. The values are the true floats: nothing is discretized, so the optimum is
exact and its predicted latency really is ``<= budget``.

Monotonicity: the feasible sets of two budgets ``B1 < B2`` are nested and the choice is the
minimum of one fixed order (cost, latency, memory), so the latency chosen for ``B1`` never
exceeds the one chosen for ``B2``.

Without a memory budget memory is left out of the dominance test (the front is 2-D, latency
versus cost); with one, the front is 3-D. The front's size is bounded by the number of distinct
latency sums; ``MAX_FRONT`` guards against a blow-up with a clear error.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import UserError

MAX_FRONT = 2_000_000
_SLACK = 1e-9


@dataclass(frozen=True)
class Option:
    precision: str
    algorithm: Optional[str]
    latency_ms: float
    cost: float
    memory_bytes: int = 0


@dataclass(frozen=True)
class LayerChoices:
    name: str
    options: tuple


@dataclass(frozen=True)
class Solution:
    choices: tuple          # one Option per layer, in layer order
    latency_ms: float       # fixed_ms + sum of option latencies
    cost: float
    memory_bytes: int       # fixed_memory + sum of option memories

    def by_layer(self, layers) -> dict:
        return {layer.name: option for layer, option in zip(layers, self.choices)}


class BudgetInfeasible(UserError):
    """No choice meets the budget. ``binding`` is ``latency`` or ``memory``.

    ``fastest_ms`` is the fastest predicted latency reachable within the memory budget (``None``
    when no choice fits the memory budget at all); ``smallest_memory_bytes`` the least memory any
    choice needs.
    """

    def __init__(self, binding: str, budget_ms: float, fastest_ms: Optional[float],
                 memory_budget: Optional[int], smallest_memory_bytes: int):
        self.binding = binding
        self.budget_ms = budget_ms
        self.fastest_ms = fastest_ms
        self.memory_budget = memory_budget
        self.smallest_memory_bytes = smallest_memory_bytes
        if binding == "memory":
            message = (
                f"no configuration fits the memory budget of {memory_budget} bytes: the smallest needs "
                f"{smallest_memory_bytes} bytes"
            )
        else:
            within = "" if memory_budget is None else f" within the memory budget of {memory_budget} bytes"
            message = (
                f"the latency budget of {budget_ms:.3f} ms cannot be met: the fastest predicted latency "
                f"reachable{within} is {fastest_ms:.3f} ms"
            )
        super().__init__(message)


@dataclass
class _Front:
    """Partial choices for the layers so far, with back-pointers to rebuild each one."""

    latency: np.ndarray
    memory: np.ndarray
    cost: np.ndarray
    parents: list            # per layer: index into the previous front
    picks: list              # per layer: option index


def _check(layers) -> None:
    if not layers:
        raise ValueError("nothing to choose: no layers")
    for layer in layers:
        if not layer.options:
            raise UserError(f"layer {layer.name} has no candidate (precision, kernel) option")
        for o in layer.options:
            if not (o.latency_ms >= 0 and np.isfinite(o.cost) and o.memory_bytes >= 0):
                raise ValueError(f"layer {layer.name}: invalid option {o}")


def _non_dominated(latency: np.ndarray, memory: np.ndarray, cost: np.ndarray, use_memory: bool) -> np.ndarray:
    """Indices of the points no other point dominates, in (cost, latency, memory, index) order."""
    order = np.lexsort((np.arange(latency.size), memory, latency, cost))
    if not use_memory:
        lat = latency[order]
        best_before = np.concatenate(([np.inf], np.minimum.accumulate(lat)[:-1]))
        return order[lat < best_before]
    # 3-D: points come in cost order, so a point is dominated iff an earlier kept point has
    # latency <= and memory <=. Kept points form a staircase: latency up, memory strictly down.
    stair_lat: list = []
    stair_mem: list = []
    kept = []
    for i in order:
        lat, mem = latency[i], memory[i]
        j = bisect.bisect_right(stair_lat, lat)
        if j > 0 and stair_mem[j - 1] <= mem:
            continue
        kept.append(i)
        k = j
        while k < len(stair_lat) and stair_mem[k] >= mem:
            k += 1
        stair_lat[j:k] = [lat]
        stair_mem[j:k] = [mem]
    return np.asarray(kept, dtype=np.int64)


def _run_dp(layers, fixed_ms: float, fixed_memory: int, budget_ms: float, memory_budget: Optional[int]) -> _Front:
    """The Pareto front of complete choices within the budgets (``inf`` = unconstrained)."""
    lat_opts = [np.array([o.latency_ms for o in layer.options], dtype=np.float64) for layer in layers]
    mem_opts = [np.array([o.memory_bytes for o in layer.options], dtype=np.float64) for layer in layers]
    cost_opts = [np.array([o.cost for o in layer.options], dtype=np.float64) for layer in layers]
    # Least latency / memory the layers after i can still add.
    rest_lat = np.concatenate((np.cumsum([a.min() for a in lat_opts][::-1])[::-1][1:], [0.0]))
    rest_mem = np.concatenate((np.cumsum([a.min() for a in mem_opts][::-1])[::-1][1:], [0.0]))
    mem_cap = np.inf if memory_budget is None else float(memory_budget)
    front = _Front(np.array([fixed_ms]), np.array([float(fixed_memory)]), np.array([0.0]), [], [])
    for i in range(len(layers)):
        n_opt = lat_opts[i].size
        latency = (front.latency[:, None] + lat_opts[i][None, :]).ravel()
        memory = (front.memory[:, None] + mem_opts[i][None, :]).ravel()
        cost = (front.cost[:, None] + cost_opts[i][None, :]).ravel()
        if i + 1 < len(layers):
            # Look-ahead bound, with slack for the rounding of the remaining sums: never drops a
            # feasible partial choice; the last layer checks the budgets exactly.
            fits = (latency + rest_lat[i] <= budget_ms * (1 + _SLACK)) & (memory + rest_mem[i] <= mem_cap * (1 + _SLACK))
        else:
            fits = (latency <= budget_ms) & (memory <= mem_cap)
        feasible = np.flatnonzero(fits)
        keep = feasible[_non_dominated(latency[feasible], memory[feasible], cost[feasible], memory_budget is not None)]
        if keep.size > MAX_FRONT:
            raise UserError(f"the selection problem is too large to solve exactly ({keep.size} partial choices at layer {layers[i].name})")
        front = _Front(latency[keep], memory[keep], cost[keep], front.parents + [keep // n_opt], front.picks + [keep % n_opt])
        if keep.size == 0:
            break
    return front


def _solution(layers, front: _Front, index: int) -> Solution:
    picks = []
    i = index
    for layer_i in range(len(layers) - 1, -1, -1):
        picks.append(int(front.picks[layer_i][i]))
        i = int(front.parents[layer_i][i])
    picks.reverse()
    return Solution(
        choices=tuple(layer.options[p] for layer, p in zip(layers, picks)),
        latency_ms=float(front.latency[index]),
        cost=float(front.cost[index]),
        memory_bytes=int(round(front.memory[index])),
    )


def _infeasible(layers, fixed_ms: float, fixed_memory: int, budget_ms: float, memory_budget: Optional[int]) -> BudgetInfeasible:
    smallest = fixed_memory + sum(min(o.memory_bytes for o in layer.options) for layer in layers)
    if memory_budget is not None and smallest > memory_budget:
        return BudgetInfeasible("memory", budget_ms, None, memory_budget, smallest)
    if memory_budget is None:
        fastest = fixed_ms + sum(min(o.latency_ms for o in layer.options) for layer in layers)
    else:
        front = _run_dp(layers, fixed_ms, fixed_memory, np.inf, memory_budget)
        fastest = float(front.latency.min())
    return BudgetInfeasible("latency", budget_ms, fastest, memory_budget, smallest)


def solve(layers, budget_ms: float, memory_budget: Optional[int] = None, fixed_ms: float = 0.0, fixed_memory: int = 0) -> Solution:
    """The least-cost choice with ``latency <= budget_ms`` (and ``memory <= memory_budget``).

    Raises :class:`BudgetInfeasible` (a UserError) naming the binding constraint and the fastest
    reachable latency when nothing fits.
    """
    _check(layers)
    if not budget_ms > 0:
        raise UserError(f"the latency budget must be a positive number of milliseconds, got {budget_ms}")
    front = _run_dp(layers, fixed_ms, fixed_memory, float(budget_ms), memory_budget)
    if front.latency.size == 0:
        raise _infeasible(layers, fixed_ms, fixed_memory, budget_ms, memory_budget)
    best = int(np.lexsort((front.memory, front.latency, front.cost))[0])
    return _solution(layers, front, best)


def least_cost(layers, memory_budget: Optional[int] = None, fixed_ms: float = 0.0, fixed_memory: int = 0) -> Solution:
    """The least-cost choice with no latency budget (ties: the fastest)."""
    _check(layers)
    front = _run_dp(layers, fixed_ms, fixed_memory, np.inf, memory_budget)
    if front.latency.size == 0:
        raise _infeasible(layers, fixed_ms, fixed_memory, np.inf, memory_budget)
    best = int(np.lexsort((front.memory, front.latency, front.cost))[0])
    return _solution(layers, front, best)


def pareto_frontier(layers, memory_budget: Optional[int] = None, fixed_ms: float = 0.0, fixed_memory: int = 0) -> list:
    """Every choice on the latency-versus-cost Pareto frontier, fastest first.

    Each point is the least-cost choice for a budget equal to its latency: ``solve(layers, p.latency_ms)``
    returns a choice with the same latency and cost.
    """
    _check(layers)
    front = _run_dp(layers, fixed_ms, fixed_memory, np.inf, memory_budget)
    if front.latency.size == 0:
        raise _infeasible(layers, fixed_ms, fixed_memory, np.inf, memory_budget)
    keep = _non_dominated(front.latency, front.memory, front.cost, use_memory=False)
    keep = keep[np.argsort(front.latency[keep], kind="stable")]
    return [_solution(layers, front, int(i)) for i in keep]
