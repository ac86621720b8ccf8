"""``edgeconv profile``: measure a latency table for a board (DESIGN §4).

A micro-benchmark over the kernel variants and the layer shapes that matter (``cases``), or, with
``--model``, over that model's own layers at each precision and kernel variant (``model_layers``).
Every graph is compiled for the board and timed by the runner (``measure``); the per-layer medians
become a :class:`~edgeconv.select.latency_table.LatencyTable` that the latency model uses from then
on (``latency_source: "measured-table"``). For a board that cannot be reached, an
:class:`~edgeconv.profile.estimate.Estimator` takes the runner's place: each graph is counted under
QEMU and costed by llvm-mca (``estimate``), and the table says ``estimated (qemu+llvm-mca)``.

Bounded in time: graphs are measured in order until ``budget_s`` seconds have passed; the rest are
left out and listed in the summary (the latency model stays analytical for what was not measured).
A graph that cannot be built or run (a precision the model's ops cannot take) is listed as failed
and the others still count; nothing measured at all is a UserError.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Optional

from .. import progress
from ..errors import UserError
from ..runtimes.runner import Runner
from ..ir import Graph
from ..select.latency_table import MEASURED_METHOD, LatencyTable
from ..targets import Target
from ..toolchain import Compiler
from .cases import LayerCase, case_graph, default_cases
from .measure import measure_graph, median_table
from .model_layers import MODEL_PRECISIONS, load_prepared, model_graphs

DEFAULT_BUDGET_S = 240.0


@dataclass
class ProfileSummary:
    target: str
    runner: str
    compiler: str
    source: str                     # "micro-benchmark" or the model file
    measured: int = 0               # graphs timed
    left_out: list = field(default_factory=list)  # labels of graphs not timed (time budget)
    failed: list = field(default_factory=list)    # "label: reason" of graphs that could not be built or run
    entries: int = 0
    seconds: float = 0.0
    method: str = MEASURED_METHOD   # how the times were obtained (latency_table.METHODS)


def _micro_benchmark(cases: Iterable[LayerCase]) -> Iterable[tuple]:
    for case in cases:
        yield case.label, functools.partial(case_graph, case)


def _model(target: Target, model: Path, precisions: tuple) -> Iterable[tuple]:
    return model_graphs(target, load_prepared(model), precisions)


def profile_target(target: Target, runner: Runner, compiler: Compiler, model: Optional[Path] = None,
                   cases: Optional[list] = None, budget_s: float = DEFAULT_BUDGET_S,
                   precisions: tuple = MODEL_PRECISIONS,
                   measure: Optional[Callable[[Graph, str], dict]] = None, method: str = MEASURED_METHOD) -> tuple:
    """``(LatencyTable, ProfileSummary)``: measure the micro-benchmark (or ``model``'s layers at
    each of ``precisions``). ``measure(graph, label)`` gives a graph's LatencyKey -> ms (default: time
    it with ``runner``); ``method`` is what the table and summary say it did."""
    if measure is None:
        measure = lambda graph, label: measure_graph(graph, target, compiler, runner)  # noqa: E731
    start = time.monotonic()
    if model is not None:
        work = list(_model(target, model, precisions))
        source = str(model)
    else:
        work = list(_micro_benchmark(cases if cases is not None else default_cases()))
        source = "micro-benchmark"
    summary = ProfileSummary(target.name, runner.name, compiler.version, source, method=method)
    samples: dict = {}
    with progress.task(f"profiling {target.name}", total=len(work)) as bar:
        for label, make_graph in work:
            if time.monotonic() - start > budget_s:
                summary.left_out.append(label)
                continue
            bar.describe(label)
            try:
                measured = measure(make_graph(), label)
            except UserError as err:  # e.g. a precision the model's ops cannot take: the others still count
                summary.failed.append(f"{label}: {err}")
                continue
            finally:
                bar.advance()
            for key, ms in measured.items():
                samples.setdefault(key, []).append(ms)
            summary.measured += 1
    if summary.measured == 0 and summary.failed:
        raise UserError(f"nothing could be profiled on {target.name}: {summary.failed[0]}")
    table = LatencyTable(target.name, target.cpu.model, datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         compiler.version, tuple(compiler.cflags), method=method)
    median_table(samples, table)
    summary.entries = len(table.entries)
    summary.seconds = round(time.monotonic() - start, 3)
    return table, summary
