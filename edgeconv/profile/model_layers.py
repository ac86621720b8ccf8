"""``profile --model``: the graphs that time a model's own layers at each precision and kernel.

The model is loaded and prepared as ``compress`` does (BatchNorm folding, merges), then, for each
precision of ``MODEL_PRECISIONS``, quantized uniformly (``quant.uniform_precisions``: a low-bit
precision keeps the first conv and the last linear layer at int8, as compress does) on seeded
calibration inputs in [0, 1). Each weighted layer may run on several kernel variants; round ``r``
gives every layer its ``r``-th variant (its first when it has fewer), so ``max(variants per
layer)`` graphs per precision cover every (layer, precision, variant). Round 0 uses the variant the
analytical model ranks fastest, the one ``compress`` picks for a uniform precision.

A model that carries its own quantization (a full-integer ``.tflite``) is timed as ``compress``
keeps it: as loaded, at its own precisions only.

Node names and shapes are those of the graph ``compress`` builds from the same model, so the keys
measured here are the keys the latency model looks up for the compressed model.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterator

from ..ir import Graph
from ..kernels.geometry import geometry
from ..passes.pipeline import prepare
from ..quant.precision import parse_precision, uniform_precisions
from ..quant.quantize_graph import quantize_graph
from ..select.candidates import variants_for
from ..select.latency import fastest_algorithm
from ..targets import Target
from .cases import calibration_inputs

MODEL_PRECISIONS = ("int8", "fp32", "w4a4", "w2a2", "w1a1")


def load_prepared(model: Path) -> Graph:
    """The graph ``compress`` starts from: prepared for quantization, or as loaded when the model
    keeps its own quantization."""
    from ..frontend import load_model

    graph = load_model(model)
    return graph if graph.is_quantized() else prepare(graph)


def _variant_rounds(target: Target, graph: Graph, precisions: dict) -> list:
    """Per round, node name -> kernel variant; round 0 = the fastest predicted variant."""
    per_node = {}
    for node in graph.nodes:
        if not node.op.WEIGHTED:
            continue
        precision = precisions[node.name]
        fastest = fastest_algorithm(target, graph, node, precision)
        others = [v.name for v in variants_for(geometry(graph, node), parse_precision(precision)) if v.name != fastest]
        per_node[node.name] = [fastest, *others]
    rounds = max((len(v) for v in per_node.values()), default=1)
    return [{name: names[r] if r < len(names) else names[0] for name, names in per_node.items()} for r in range(rounds)]


def _served(graph: Graph, chosen: dict) -> dict:
    """``chosen`` with int8 for each weighted layer that no kernel serves at its precision (a
    ConvTranspose below 8 bits, which the selector never offers): the round times it as it can run."""
    return {name: precision if not graph.node(name).op.WEIGHTED
            or variants_for(geometry(graph, graph.node(name)), parse_precision(precision)) else "int8"
            for name, precision in chosen.items()}


def model_graphs(target: Target, graph: Graph, precisions: tuple = MODEL_PRECISIONS) -> Iterator[tuple]:
    """``(label, make_graph)`` for every precision and variant round of a prepared graph.

    ``make_graph()`` quantizes and returns the trial graph, so a precision the model cannot take
    fails its own items only.
    """
    if graph.is_quantized():
        own = {node.name: node.precision for node in graph.nodes}
        for r, algorithms in enumerate(_variant_rounds(target, graph, own)):
            yield f"{graph.name} own quantization variant set {r + 1}", functools.partial(
                _with_algorithms, lambda: graph, algorithms)
        return
    calib = calibration_inputs(graph)
    for precision in precisions:
        chosen = _served(graph, uniform_precisions(graph, precision))
        quantized = functools.lru_cache(maxsize=1)(lambda chosen=chosen: quantize_graph(graph, calib, chosen))
        for r, algorithms in enumerate(_variant_rounds(target, graph, chosen)):
            label = f"{graph.name} {precision} variant set {r + 1}"
            yield label, functools.partial(_with_algorithms, quantized, algorithms)


def _with_algorithms(quantized, algorithms: dict) -> Graph:
    trial = quantized().copy()
    for node in trial.nodes:
        if node.name in algorithms:
            node.algorithm = algorithms[node.name]
    return trial
