"""Per-layer sensitivity: what quantizing one layer alone costs in model output quality.

For every weighted layer (Conv, Linear) and every candidate precision, the layer is quantized
alone (all other layers stay float) with a caller-given ``quantize_one(graph, node_name,
precision) -> graph``, the model is run on calibration data, and the outputs are compared with the
float model's. How the model runs:

- by default in the torch executor, in batches, on a chosen device, from cached activations
  (``torchexec.replay``): the float graph runs once, node by node, and before each layer its
  trials run only the graph *after* it, from the float activations live there. Quantized nodes
  run fake-quantized (``torchexec.fake_quant``): the weights and grids are the integer model's,
  the arithmetic float32, so a cost differs from the integer reference's by the rounding
  differences that module lists (about one output step on few elements); float nodes run in
  torch's order of summation. These are the numbers the selector ranks;
- with a caller-given ``run(graph, x) -> outputs`` (e.g. the numpy reference executor), each trial
  runs its whole graph with it.

The outputs are compared as follows:

- ``kl`` (default): mean over samples of ``KL(p_float || p_quant) = sum_c p_f[c] * (log p_f[c] -
  log p_q[c])`` in nats, with ``log p = log_softmax(logits)`` over the last axis, computed stably
  (the outputs are taken as probabilities already when the graph ends in a Softmax node; they are
  clipped at 1e-12 before the log);
- ``top1``: the drop in top-1 accuracy in percentage points (needs labels); it may be negative.

``fp32`` costs 0 by definition. Summing the per-layer costs is the selector's estimate of the cost
of a mixed configuration (layers assumed independent, as in HAWQ-style selection). The estimate
fails where errors compound: several binary layers together can cost far more than their sum.
:func:`plan_costs` measures whole plans (every layer at its plan's precision at once, the same
samples and comparison), which the pipeline uses to check the selector's choice against other
candidates (``pipeline.selection``).

Results are cached as JSON under ``<cache>/sensitivity/<key>.json`` (``~/.cache/edgeconv`` by
default, see ``host_tools.cache_root``), where the key hashes the graph's structure and
weights, the calibration data, the precisions, the layers, the metric and a caller-given label
naming the quantizer (so a new quantization method does not reuse stale numbers) and how the
trials ran (replayed on which device type, or a caller's executor).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from .. import progress
from ..errors import UserError
from ..ir import Graph, ops
from ..quant.precision import parse_precision
from ..host_tools import cache_root

REPLAY_BATCH = 32  # samples per batch of a replayed trial

METRICS = ("kl", "top1")
_PROB_FLOOR = 1e-12


@dataclass
class SensitivityTable:
    """``costs[layer][precision]``: the cost of quantizing ``layer`` alone at ``precision``."""

    metric: str
    costs: dict = field(default_factory=dict)

    def cost(self, layer: str, precision: str) -> float:
        if precision == "fp32":
            return 0.0
        try:
            return self.costs[layer][precision]
        except KeyError:
            raise KeyError(f"no sensitivity measured for layer {layer} at {precision}") from None

    def to_json(self) -> dict:
        return {"metric": self.metric, "costs": self.costs}

    @classmethod
    def from_json(cls, data: dict) -> "SensitivityTable":
        return cls(data["metric"], {k: {p: float(c) for p, c in v.items()} for k, v in data["costs"].items()})


def _log_probabilities(outputs: np.ndarray, already_probabilities: bool) -> np.ndarray:
    """``log softmax`` over the last axis (stable: ``x - max - log sum exp``), or the clipped log."""
    x = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if already_probabilities:
        return np.log(np.clip(x, _PROB_FLOOR, None))
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def kl_divergence(reference: np.ndarray, other: np.ndarray, probabilities: bool = False) -> float:
    """Mean over samples of KL(softmax(reference) || softmax(other)), in nats."""
    log_p = _log_probabilities(reference, probabilities)
    log_q = _log_probabilities(other, probabilities)
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=1)))


def top1_accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    predicted = np.asarray(outputs).reshape(len(outputs), -1).argmax(axis=1)
    return float(100.0 * np.mean(predicted == np.asarray(labels)))


def _device_type(device) -> str:
    """``cuda`` for ``cuda`` or ``cuda:1``; ``cpu`` for ``cpu``."""
    return str(device).split(":")[0]


def _ends_in_softmax(graph: Graph) -> bool:
    last = graph.producer(graph.outputs[0])
    return last is not None and isinstance(last.op, ops.Softmax)


def cache_key(graph: Graph, calib_x: np.ndarray, precisions, layers, metric: str, label: str, labels=None) -> str:
    """SHA-256 over the graph (structure and constant data), the data and the request."""
    h = hashlib.sha256()

    def feed(text: str) -> None:
        h.update(text.encode("utf-8"))
        h.update(b"\0")

    for node in graph.nodes:
        feed(f"{node.name}|{node.op_name}|{sorted(node.op.attrs().items())!r}|{node.inputs}|{node.output}")
    for tensor in sorted(graph.constants(), key=lambda t: t.name):
        feed(f"{tensor.name}|{tensor.dtype}|{tensor.shape}")
        h.update(np.ascontiguousarray(tensor.data).tobytes())
    x = np.ascontiguousarray(calib_x)
    feed(f"x|{x.dtype}|{x.shape}")
    h.update(x.tobytes())
    if labels is not None:
        h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    feed(f"{sorted(precisions)}|{list(layers)}|{metric}|{label}")
    return h.hexdigest()


def _whole_graph_trials(graph: Graph, calib_x: np.ndarray, layers: list, precisions: list, quantize_one, run):
    """(layer, precision, outputs) of every trial, each graph run whole by ``run``; then the float
    graph's outputs as (None, None, outputs)."""
    for layer in layers:
        for precision in precisions:
            yield layer, precision, np.asarray(run(quantize_one(graph, layer, precision), calib_x))
    yield None, None, np.asarray(run(graph, calib_x))


def _replayed_trials(graph: Graph, calib_x: np.ndarray, layers: list, precisions: list, quantize_one,
                     device, batch_size: int):
    """As :func:`_whole_graph_trials`, each trial replayed from the float activations before its layer."""
    import torch  # the torch executor is loaded only when trials are replayed

    from ..torchexec.replay import FloatWalk, replay

    walk = FloatWalk(graph, calib_x, torch.device(device), batch_size)
    with progress.task("sensitivity", total=len(layers)) as bar:
        done = 0
        for layer in walk.pauses(layers):
            done += 1
            bar.describe(f"sensitivity: layer {done}/{len(layers)} {layer}")
            for precision in precisions:
                trial = quantize_one(graph, layer, precision)
                yield layer, precision, replay(graph, trial, walk.live, batch_size, walk.device).cpu().numpy()
            bar.advance()
    if done != len(layers):
        raise KeyError(f"no layer(s) {', '.join(sorted(set(layers) - {n.name for n in graph.nodes}))} in {graph.name}")
    yield None, None, walk.output().cpu().numpy()


def _check_metric(metric: str, labels) -> None:
    if metric not in METRICS:
        raise UserError(f"unknown sensitivity metric {metric!r}; use one of {', '.join(METRICS)}")
    if metric == "top1" and labels is None:
        raise UserError("the top1 sensitivity metric needs labels (y) in the calibration data")


def _cost(reference: np.ndarray, result: np.ndarray, metric: str, probabilities: bool, labels) -> float:
    """How much worse ``result`` is than the float ``reference`` under ``metric`` (module docstring)."""
    if metric == "kl":
        return kl_divergence(reference, result, probabilities)
    return top1_accuracy(reference, labels) - top1_accuracy(result, labels)


def plan_costs(
    graph: Graph,
    calib_x: np.ndarray,
    plans: list,
    metric: str = "kl",
    labels: Optional[np.ndarray] = None,
    device: str = "cpu",
    batch_size: int = REPLAY_BATCH,
) -> list:
    """Cost of each whole plan against the float ``graph``, compared as :func:`measure` compares.

    ``plans`` are graphs computing what ``graph`` computes with some layers quantized (a
    quantized graph of it, or of a merged version of it: the comparison is with ``graph``'s own
    outputs either way). Each runs whole in the torch executor on ``device``, in batches of
    ``batch_size``; the float graph runs once for all of them. Nothing is cached.
    """
    import torch  # the torch executor is loaded only when plans are run

    from ..torchexec.replay import replay

    _check_metric(metric, labels)
    torch_device = torch.device(device)
    # Only the input is live: replay runs the whole of each graph.
    live = {graph.inputs[0]: torch.from_numpy(np.ascontiguousarray(calib_x, dtype=np.float32)).to(torch_device)}
    reference = replay(graph, graph, live, batch_size, torch_device).cpu().numpy()
    probabilities = _ends_in_softmax(graph)
    costs = []
    with progress.task("whole-plan trials", total=len(plans)) as bar:
        for plan in plans:
            result = replay(graph, plan, live, batch_size, torch_device).cpu().numpy()
            costs.append(_cost(reference, result, metric, probabilities, labels))
            bar.advance()
    return costs


def measure(
    graph: Graph,
    calib_x: np.ndarray,
    precisions,
    quantize_one: Callable[[Graph, str, str], Graph],
    run: Optional[Callable[[Graph, np.ndarray], np.ndarray]] = None,
    layers: Optional[list] = None,
    metric: str = "kl",
    labels: Optional[np.ndarray] = None,
    label: str = "",
    cache_dir: Optional[Path] = None,
    use_cache: bool = True,
    device: str = "cpu",
    batch_size: int = REPLAY_BATCH,
) -> SensitivityTable:
    """Cost of quantizing each layer alone at each precision (see the module docstring).

    ``layers`` defaults to every Conv and Linear node. ``run`` None: trials are replayed in the
    torch executor on ``device`` (a torch device name) in batches of ``batch_size``; else each
    trial graph runs whole through ``run``. ``label`` names the quantizer in the cache key. With
    ``use_cache`` a stored result for the same key is returned without running anything.
    """
    _check_metric(metric, labels)
    precisions = [parse_precision(p).name for p in precisions]
    layers = list(layers) if layers is not None else [n.name for n in graph.nodes if n.op.WEIGHTED]
    executor = f"replayed-{_device_type(device)}" if run is None else "whole-graph"
    path = (Path(cache_dir) if cache_dir else cache_root() / "sensitivity") / (
        cache_key(graph, calib_x, precisions, layers, metric, f"{label}|{executor}", labels) + ".json"
    )
    if use_cache and path.is_file():
        return SensitivityTable.from_json(json.loads(path.read_text(encoding="utf-8")))
    quantized = [p for p in precisions if p != "fp32"]
    if run is None:
        trials = _replayed_trials(graph, calib_x, layers, quantized, quantize_one, device, batch_size)
    else:
        trials = _whole_graph_trials(graph, calib_x, layers, quantized, quantize_one, run)
    outputs = {}
    for layer, precision, result in trials:
        outputs[(layer, precision)] = result
    reference = outputs.pop((None, None))
    probabilities = _ends_in_softmax(graph)
    table = SensitivityTable(metric)
    for layer in layers:
        table.costs[layer] = {p: 0.0 for p in precisions if p == "fp32"}
        for precision in quantized:
            table.costs[layer][precision] = _cost(reference, outputs[(layer, precision)], metric, probabilities, labels)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(table.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)
    return table
