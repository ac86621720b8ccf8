"""Suffix replay: a trial graph run from the float model's cached activations.

A sensitivity trial quantizes one layer of a float graph and runs the model again. Everything the
trial graph shares with the float graph *before* that layer computes what the float model
computed, so only the nodes after it need to run.

:class:`FloatWalk` runs the float graph in the torch executor node by node over all samples at
once, keeping only the live activations (those a later node or a graph output still reads, and
the graph inputs), and pauses before each requested node so trials can start from there.

:func:`replay` runs a trial graph from those activations. A tensor of the trial graph is *known*
when it is live in the walk and the trial computes it exactly as the float graph does: it is a
graph input, or the output of a float node that has the same name, op, inputs and constants in
both graphs and reads only such tensors. Walking back from the trial's outputs, only the nodes
whose output is needed and not known run (in batches of ``batch_size`` samples); the result is the
whole trial graph's, computed with less work.
"""

from __future__ import annotations

from typing import Iterator, Mapping, Optional

import numpy as np
import torch

from ..ir import Graph
from .module import build_module


def _last_reads(graph: Graph) -> dict:
    """Activation name -> index of the last node that reads it (graph outputs: past the end)."""
    last = {}
    for index, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name is not None and not graph.tensors[name].is_constant:
                last[name] = index
    for name in graph.outputs:
        last[name] = len(graph.nodes)
    return last


class FloatWalk:
    """The float graph run node by node on ``x``; see the module docstring.

    ``pauses(names)`` yields each of ``names`` (in graph order) with :attr:`live` holding the
    activations live just before that node runs; when it ends, :attr:`live` holds the outputs.
    """

    def __init__(self, graph: Graph, x: np.ndarray, device: torch.device, batch_size: int):
        self.graph = graph
        self.device = device
        self.batch_size = batch_size
        self.module = build_module(graph).to(device).eval()
        self.live = {graph.inputs[0]: torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)}

    def pauses(self, names) -> Iterator[str]:
        wanted = set(names)
        last = _last_reads(self.graph)
        keep = set(self.graph.inputs)
        with torch.no_grad():
            for index, node in enumerate(self.graph.nodes):
                if node.name in wanted:
                    yield node.name
                self.live[node.output] = self._batched(node)
                for name in node.inputs:
                    if name in self.live and name not in keep and last.get(name, -1) <= index:
                        del self.live[name]

    def _batched(self, node) -> torch.Tensor:
        n = len(next(iter(self.live.values())))
        parts = []
        for start in range(0, n, self.batch_size):
            chunk = {k: v[start:start + self.batch_size] for k, v in self.live.items() if k in node.inputs}
            parts.append(self.module.step(node, chunk))
        return torch.cat(parts)

    def output(self) -> torch.Tensor:
        """The first graph output (after :meth:`pauses` has run to its end)."""
        return self.live[self.graph.outputs[0]]


def _same_constant(float_graph: Graph, trial: Graph, name: str) -> bool:
    a, b = float_graph.tensors.get(name), trial.tensors[name]
    if a is None or not a.is_constant:
        return False
    return a.data is b.data or (a.dtype == b.dtype and a.quant == b.quant and np.array_equal(a.data, b.data))


def known_tensors(float_graph: Graph, trial: Graph) -> set:
    """Tensors of ``trial`` that hold the float graph's values for the same name (module docstring)."""
    known = set(trial.inputs) & set(float_graph.inputs)
    float_nodes = {n.name: n for n in float_graph.nodes}
    for node in trial.nodes:
        source = float_nodes.get(node.name)
        if (source is None or source.op != node.op or source.inputs != node.inputs or source.output != node.output
                or trial.tensors[node.output].dtype != "float32"):
            continue
        if all(i is None or i in known or (trial.tensors[i].is_constant and _same_constant(float_graph, trial, i))
               for i in node.inputs):
            known.add(node.output)
    return known


def suffix(float_graph: Graph, trial: Graph, available: set) -> Graph:
    """The part of ``trial`` that must run when the float values of ``available`` are given: its
    inputs are the known, available tensors it reads, its outputs the trial's."""
    given = known_tensors(float_graph, trial) & set(available)
    needed = set(trial.outputs) - given
    nodes = []
    for node in reversed(trial.nodes):
        if node.output not in needed:
            continue
        nodes.append(node)
        for name in node.inputs:
            if name is not None and not trial.tensors[name].is_constant and name not in given:
                needed.add(name)
    nodes.reverse()
    produced = {n.output for n in nodes}
    reads = [i for n in nodes for i in n.inputs if i is not None and not trial.tensors[i].is_constant]
    inputs = list(dict.fromkeys(i for i in reads if i not in produced))
    missing = [i for i in inputs if i not in given]
    if missing:
        raise ValueError(f"suffix of {trial.name} reads {missing[0]}, which is neither computed nor available")
    used = set(inputs) | produced | {i for n in nodes for i in n.inputs if i is not None}
    outputs = list(trial.outputs)
    return Graph(name=trial.name, tensors={k: v for k, v in trial.tensors.items() if k in used or k in outputs},
                 nodes=nodes, inputs=inputs, outputs=outputs, source_layout=trial.source_layout)


def replay(float_graph: Graph, trial: Graph, live: Mapping[str, torch.Tensor], batch_size: int,
           device: Optional[torch.device] = None) -> torch.Tensor:
    """The first output of ``trial`` on the samples of ``live`` (a :class:`FloatWalk`'s activations),
    running only its suffix; see the module docstring."""
    part = suffix(float_graph, trial, set(live))
    first = part.outputs[0]
    if first in part.inputs:  # the trial changed nothing the output depends on
        return live[first]
    module = build_module(part).eval()
    if device is not None:
        module = module.to(device)
    n = len(next(iter(live.values())))
    outs = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            feeds = {name: live[name][start:start + batch_size] for name in part.inputs}
            result = module(feeds)
            outs.append(result if isinstance(result, torch.Tensor) else result[first])
    return torch.cat(outs)
