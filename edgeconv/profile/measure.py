"""Timing the layers of a graph on a board: generate C, build the runner, run it with per-layer timing.

One measurement = the graph compiled with the C backend and the board's compiler (timing hooks
in, ``-DEC_PROFILE``), run through a runner on one seeded input ``REPEAT`` times
(``edgeconv_run --repeat REPEAT --timing``). The runner reports, per layer call, the median of its
``REPEAT`` times; that median is the layer's measured time.

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
from pathlib import Path
from typing import Optional

import numpy as np

from ..backends.c import generate
from ..errors import UserError
from ..ir import Graph
from ..pipeline.build import build_runner
from ..runtimes.runner import Runner
from ..select.latency import predict_layer
from ..select.latency_table import LatencyKey, LatencyTable
from ..targets import Target
from ..toolchain import Compiler
from ..verify.inputs import random_inputs

REPEAT = 25


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


def measure_graph(graph: Graph, target: Target, compiler: Compiler, runner: Runner, repeat: int = REPEAT) -> dict:
    """LatencyKey -> measured median ms of one call, for every node of ``graph`` that costs time."""
    with tempfile.TemporaryDirectory(prefix="edgeconv-profile-") as tmp:
        tmp = Path(tmp)
        project = generate(graph, tmp / "c")
        build_runner(tmp / "c", target, compiler, tmp / "build")
        x = random_inputs(graph, samples=1).x[0]
        result = runner.run(tmp / "build" / "edgeconv_run", x, repeat=repeat, timing=True)
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
