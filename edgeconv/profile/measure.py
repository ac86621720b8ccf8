"""Timing the layers of a graph on a board: generate C, build the runner, run it with per-layer timing.

One measurement = the graph compiled with the C backend and the board's compiler (timing hooks
in, ``-DEC_PROFILE``), run through a runner on one seeded input (``edgeconv_run --repeat N
--timing``). The runner reports, per layer call, the median of its ``N`` times; that median is the
layer's measured time.

``N`` is chosen per graph so that one window of calls lasts about ``WINDOW_S`` seconds (a short
probe of ``PROBE_REPEAT`` calls gives the call's time; ``N`` stays within
``MIN_REPEAT``..``MAX_REPEAT``), and ``WINDOWS`` such windows are run ``WINDOW_GAP_S`` apart; the
window with the lowest median is kept, its per-layer medians being the measurement. A shared
machine runs the same code at two speeds, each lasting up to about a second: 120 windows of a
19 us ResNet-8 run back to back read 18.8-19.5 us or 22-29 us, in runs of up to 16 windows (1 s).
The windows therefore span about two seconds, so that the fast state is almost surely among them.
A fixed 25 calls per graph, as before, timed a model of tens of microseconds over a millisecond
and moved its layers by 20-30% from one profile to the next.

Keys: each node's time is stored under the key the latency model looks up for it
(:func:`edgeconv.select.latency.predict_layer`), obtained by asking the model itself with a
table that records the lookups (:class:`KeyRecorder`), so the table and the model can never
disagree on op names, shape signatures, precisions or algorithms.

A node the C backend folded into its neighbour's call (the explicit one-padding of an XNOR conv,
done inside the conv kernel) has no call of its own: it is stored at 0 ms, its time being part of
the call that absorbed it. ``Reshape`` is a view and is not stored (the model gives it 0 ms).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..backends.c import generate
from ..backends.c.runner_build import RUNNER_BINARY, build_runner
from ..errors import UserError
from ..ir import Graph
from ..runtimes.runner import Runner
from ..select.latency import predict_layer
from ..select.latency_table import LatencyKey, LatencyTable
from ..targets import Target
from ..toolchain import Compiler
from ..verify.inputs import random_inputs

PROBE_REPEAT = 5
MIN_REPEAT = 25
MAX_REPEAT = 5000
WINDOW_S = 0.03
WINDOWS = 16
WINDOW_GAP_S = 0.1


def repeat_for(call_ms: float, window_s: float = WINDOW_S) -> int:
    """Calls to time so that they last about ``window_s`` seconds, given one call's ``call_ms``."""
    wanted = window_s * 1e3 / max(call_ms, 1e-6)
    return int(min(max(wanted, MIN_REPEAT), MAX_REPEAT))


def timed_run(runner: Runner, binary: Path, x: np.ndarray, windows: int = WINDOWS, window_s: float = WINDOW_S,
              threads: Optional[int] = None):
    """The runner's ``--timing`` result for ``x`` from the least disturbed of ``windows`` windows of
    calls (lowest median call), each repeated to last about ``window_s`` seconds, ``WINDOW_GAP_S``
    apart."""
    probe = runner.run(binary, x, repeat=PROBE_REPEAT, timing=True, threads=threads)
    repeat = repeat_for(float(probe.timing["median_ms"]) * len(x), window_s)
    results = []
    for window in range(windows):
        if window:
            time.sleep(WINDOW_GAP_S)
        results.append(runner.run(binary, x, repeat=repeat, timing=True, threads=threads))
    return min(results, key=lambda result: float(result.timing["median_ms"]))


class KeyRecorder(LatencyTable):
    """A table that holds nothing and remembers the last key the latency model asked for."""

    def __init__(self, target: Target):
        super().__init__(target.name, "", "", "")
        self.last: Optional[LatencyKey] = None

    def lookup(self, key: LatencyKey) -> Optional[float]:
        self.last = key
        return None


def latency_keys(target: Target, graph: Graph) -> dict:
    """node name -> the LatencyKey the latency model looks up for it (views have none)."""
    keys = {}
    for node in graph.nodes:
        recorder = KeyRecorder(target)
        predict_layer(target, graph, node, table=recorder)
        if recorder.last is not None:
            keys[node.name] = recorder.last
    return keys


def measure_graph(graph: Graph, target: Target, compiler: Compiler, runner: Runner) -> dict:
    """LatencyKey -> measured median ms of one call, for every node of ``graph`` that costs time."""
    with tempfile.TemporaryDirectory(prefix="edgeconv-profile-") as tmp:
        tmp = Path(tmp)
        project = generate(graph, tmp / "c", threads=target.threads)
        build_runner(tmp / "c", target, compiler, tmp / "build", profile=True)
        x = random_inputs(graph, samples=1).x[0]
        result = timed_run(runner, tmp / "build" / RUNNER_BINARY, x, threads=target.threads)
    per_layer = result.timing["per_layer_ms"]
    called = {layer.name for layer in project.layers}
    missing = sorted(called - set(per_layer))
    if missing:
        raise UserError(f"the runner reported no time for layer(s) {', '.join(missing)}: "
                        "it was not built with per-layer timing (-DEC_PROFILE)")
    keys = latency_keys(target, graph)
    return {key: float(per_layer[name]) if name in called else 0.0 for name, key in keys.items()}


def median_table(samples: dict, table: LatencyTable) -> LatencyTable:
    """Fill ``table`` with the median of each key's measurements (``samples``: key -> list of ms)."""
    for key, values in samples.items():
        table.add(key, float(np.median(values)))
    return table
