"""`edgeconv compress`: select -> fold -> quantize -> fine-tune -> emit -> report.

Everything is written into ``staging`` (a temporary directory that ``edgeconv.api`` renames to OUT
only when this returns), so a failure leaves nothing behind. An impossible budget is refused
during selection, before any training.

An imported full-integer ``.tflite`` without ``--precisions`` keeps its own quantization exactly:
no data needed, nothing re-quantized, the same bytes out of every artifact.
"""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .. import __version__, progress
from ..analysis import layer_table
from ..backends.irfile import IR_FILE_NAME, save_graph
from ..errors import UserError
from ..ir import Graph
from ..outdir import REPORT_FILE
from ..passes.pipeline import prepare
from ..quant.finetune import finetune
from ..quant.precision import parse_precision
from ..report import LayerReport, Report, write_html, write_json
from ..report.model import Accuracy, ParetoPoint
from ..kernels.geometry import geometry
from ..select.candidates import variants_for
from ..select.latency import fastest_algorithm, predict_graph_ms, predict_layer_ms, predict_layers
from ..select.latency_table import load_table, user_table
from .scoring import compressed_accuracy, float_accuracy, model_inputs
from .selection import pareto_points, plan_precisions

# Default fine-tuning learning rates (Adam): low-bit layers need the larger steps to settle on
# their few levels within a few epochs; int8 and fp32 layers start within a point of the float
# model and the larger rate only moves them away from it.
LOW_BIT_LR = 3e-3
INT8_LR = 1e-3
LOW_BIT_EPOCHS = 3
ARTIFACT_FILES = {"onnx": "model.onnx", "tflite": "model.tflite", "c": "c"}


def _has_low_bit(precisions: dict) -> bool:
    return any(parse_precision(p).low_bit for p in precisions.values())


def _default_epochs(precisions: dict) -> int:
    """0 when every layer ends at 8 bits or more (post-training quantization), else 3."""
    return LOW_BIT_EPOCHS if _has_low_bit(precisions) else 0


def _default_lr(precisions: dict) -> float:
    return LOW_BIT_LR if _has_low_bit(precisions) else INT8_LR


def _evaluation_set(dataset, val_dataset):
    if val_dataset is not None and val_dataset.y is not None:
        return val_dataset, "val-data"
    if dataset is not None and dataset.y is not None:
        return dataset, "data"
    return None, None


def _latency_table(request):
    if request.latency_table is not None:
        return load_table(request.latency_table)
    return user_table(request.target.name)


def _emit(request, graph: Graph, staging: Path, metadata: dict):
    """Write each requested artifact; return (artifact paths relative to OUT, C project or None)."""
    artifacts, project = {}, None
    if "onnx" in request.emit:
        from ..backends.onnx import write_onnx

        write_onnx(graph, staging / ARTIFACT_FILES["onnx"], metadata)
        artifacts["onnx"] = ARTIFACT_FILES["onnx"]
    if "tflite" in request.emit:
        from ..backends.tflite import write_tflite

        write_tflite(graph, staging / ARTIFACT_FILES["tflite"], metadata)
        artifacts["tflite"] = ARTIFACT_FILES["tflite"]
    if "c" in request.emit:
        from ..backends.c import generate

        project = generate(graph, staging / ARTIFACT_FILES["c"], request.c_prefix, metadata["command"],
                           threads=request.target.threads)
        artifacts["c"] = ARTIFACT_FILES["c"]
    return artifacts, project


def _memory_checked(request) -> bool:
    return request.memory_kb is not None and "c" in request.emit


def _with_plan_kernels(graph: Graph, plan) -> Graph:
    for node in graph.nodes:
        node.algorithm = plan.algorithms.get(node.name, node.algorithm)
    return graph


def _post_training(request, plan, x: np.ndarray) -> Graph:
    """The plan's graph quantized without fine-tuning, with the plan's kernels."""
    return _with_plan_kernels(finetune(plan.graph, plan.precisions, x, epochs=0, seed=request.seed,
                                       method=request.calibration, device=request.device), plan)


def _check_memory(request, graph: Graph) -> None:
    """``--memory-kb`` bounds the C model's arena + weights. Both depend on the layers' shapes,
    precisions and kernels, not on trained values, so a compressed model is checked on its
    post-training quantized graph before any fine-tuning: an impossible memory budget fails early,
    and the model that ships has the same sizes."""
    from ..backends.c import generate

    with tempfile.TemporaryDirectory(prefix="edgeconv-memory-") as tmp:
        project = generate(graph, Path(tmp) / "c", request.c_prefix, "", threads=request.target.threads)
    needed = project.arena_bytes + project.weights_bytes
    if needed > request.memory_kb * 1024:
        raise UserError(
            f"the model needs {needed / 1024:.1f} KiB (arena {project.arena_bytes} B + weights "
            f"{project.weights_bytes} B), more than --memory-kb {request.memory_kb:g}"
        )


def _layer_reports(target, graph: Graph, table, allowed: tuple) -> list:
    macs = {info.name: info.macs for info in layer_table(graph)}
    predicted = {p.name: p.ms for p in predict_layers(target, graph, table)}
    layers = []
    for node in graph.nodes:
        if not node.op.WEIGHTED:
            continue
        served = [p for p in allowed if variants_for(geometry(graph, node), parse_precision(p))]  # a ConvTranspose: int8, fp32
        by_precision = {p: predict_layer_ms(target, graph, node, p, table=table) for p in served}
        layers.append(LayerReport(node.name, node.op_name, node.precision, node.algorithm, int(macs.get(node.name, 0)),
                                  predicted.get(node.name), list(node.merged_from), by_precision))
    return layers


def _command(request) -> str:
    return request.command_line or "edgeconv compress " + shlex.quote(str(request.model))


@dataclass
class Compressed:
    """The graph that ships, the float graph it came from (None for an imported int8 model), the
    precisions that were allowed, the selector's frontier and notes for the report."""

    final: Graph
    float_graph: Optional[Graph]
    allowed: tuple
    pareto: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def _keep_imported(request, graph: Graph, table) -> Compressed:
    """The imported int8 graph as it is, each weighted layer on the kernel the latency model
    predicts fastest (as a selected plan's are): the prediction, the report and the C agree."""
    for node in graph.nodes:
        if node.op.WEIGHTED and node.algorithm is None:
            node.algorithm = fastest_algorithm(request.target, graph, node, node.precision)
    if request.latency_ms is not None:
        predicted = predict_graph_ms(request.target, graph, table).ms
        if predicted > request.latency_ms:
            raise UserError(f"the latency budget of {request.latency_ms:g} ms cannot be met on {request.target.name}: "
                            f"the imported model is predicted at {predicted:.3f} ms")
    if _memory_checked(request):
        _check_memory(request, graph)
    return Compressed(graph, None, ("int8",), notes=["imported full-integer model: its own quantization is kept exactly"])


def _quantize(request, graph: Graph, dataset, table) -> Compressed:
    if graph.is_quantized():
        raise UserError(f"{request.model.name} is already quantized: re-quantizing an imported int8 model with "
                        f"--precisions is not supported; drop --precisions to keep its own quantization")
    allowed = tuple(request.precisions)
    float_graph = prepare(graph)
    x = model_inputs(float_graph, dataset.x)
    plan = plan_precisions(request.target, float_graph, allowed, x, request.latency_ms, request.memory_kb, table,
                           request.calibration, request.seed, request.device)
    notes = list(plan.warnings)
    if len(allowed) == 1 and parse_precision(allowed[0]).low_bit:
        notes.append("the first conv and the last linear layer stay int8 (standard practice for low-bit nets)")
    if plan.graph is not float_graph:
        notes.append("layers merged to meet the budget: " + "; ".join(
            f"{n.name} <- {', '.join(n.merged_from)}" for n in plan.graph.nodes if n.merged_from))
    epochs = request.epochs if request.epochs is not None else _default_epochs(plan.precisions)
    # Post-training quantization is what ships without fine-tuning, and what the memory check
    # measures before fine-tuning: computed once for both.
    post_training = _post_training(request, plan, x) if epochs == 0 or _memory_checked(request) else None
    if _memory_checked(request):
        _check_memory(request, post_training)
    if epochs == 0:
        final = post_training
    else:
        final = _with_plan_kernels(finetune(plan.graph, plan.precisions, x, dataset.y, epochs=epochs,
                                            batch_size=request.batch_size, lr=request.lr or _default_lr(plan.precisions),
                                            seed=request.seed, method=request.calibration, device=request.device),
                                   plan)
    notes.append(f"fine-tuned for {epochs} epoch(s)" if epochs else "post-training quantization (no fine-tuning)")
    pareto = [ParetoPoint(ms, cost, chosen) for ms, cost, chosen in pareto_points(plan)]
    return Compressed(final, float_graph, allowed, pareto, notes)


def _measure_accuracy(request, result: Compressed, dataset, val_dataset, c_dir: Optional[Path]) -> Accuracy:
    """Top-1 of the model that ships (exactly the integer reference's) and of the float model
    (``pipeline.scoring``)."""
    evaluation, which = _evaluation_set(dataset, val_dataset)
    accuracy = Accuracy(None, None, "top1", which)
    if evaluation is not None:
        with progress.task(f"scoring on {len(evaluation.x)} {which} samples"):
            accuracy.compressed = compressed_accuracy(result.final, evaluation.x, evaluation.y, c_dir)
            if result.float_graph is not None:
                accuracy.float = float_accuracy(result.float_graph, evaluation.x, evaluation.y, request.device)
    return accuracy


def _thread_notes(request, graph: Graph, table, predicted_ms: float) -> list:
    """What the thread count does to the prediction: the budget that only the threads meet."""
    threads = request.target.threads
    if threads == 1:
        return []
    single = predict_graph_ms(request.target, graph, table, threads=1).ms
    note = (f"predicted for {threads} threads: {predicted_ms:.4g} ms ({single:.4g} ms on one thread, "
            f"{single / predicted_ms:.2f}x)")
    budget = request.latency_ms
    if budget is not None and predicted_ms <= budget < single:
        note += f"; the {budget:g} ms budget is met only with the threads"
    return [note]


def compress(request, graph: Graph, dataset, val_dataset, staging: Path) -> Report:
    target = request.target
    table = _latency_table(request)
    if graph.is_quantized() and request.precisions is None:
        result = _keep_imported(request, graph, table)
    else:
        result = _quantize(request, graph, dataset, table)
    command = _command(request)
    metadata = {"edgeconv_version": __version__, "command": command, "target": target.name,
                "precisions": ",".join(result.allowed), "calibration": request.calibration}
    final = result.final
    final.metadata = {**final.metadata, **metadata}
    save_graph(final, staging / IR_FILE_NAME)
    artifacts, project = _emit(request, final, staging, metadata)
    prediction = predict_graph_ms(target, final, table)
    notes = result.notes + _thread_notes(request, final, table, prediction.ms)
    report = Report(
        edgeconv_version=__version__, target=target.name, latency_budget_ms=request.latency_ms,
        memory_budget_kb=request.memory_kb, predicted_latency_ms=prediction.ms, latency_source=prediction.source,
        arena_bytes=project.arena_bytes if project else None, weights_bytes=project.weights_bytes if project else None,
        accuracy=_measure_accuracy(request, result, dataset, val_dataset,
                                   staging / ARTIFACT_FILES["c"] if project else None),
        layers=_layer_reports(target, final, table, result.allowed), artifacts=artifacts,
        command=command, precisions_allowed=list(result.allowed), notes=notes, pareto=result.pareto,
        threads=target.threads,
    )
    write_json(report, staging / REPORT_FILE)
    write_html(report, staging / "report.html")
    return report
