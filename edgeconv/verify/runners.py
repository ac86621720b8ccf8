"""The runtimes ``verify`` runs the .tflite and .onnx on: ``RUNNERS`` (name -> RunnerSpec).

A runner is ``run(out_dir, x) -> list of outputs``: ``x`` is one float32 array per model input in
the IR's layout (channels-first), quantized inside the runner when the artifact takes int8
(TFLite's QUANTIZE rule, ``reference.quantize_codes``); outputs come back in the IR's layout, in
the artifact's dtype (int8 for a full-integer .tflite). The C runtime's rows, named after the
target, come from ``c_runners``.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import tflite

from ..backends.irfile import IR_FILE_NAME, load_graph
from ..backends.tflite import to_channels_first, to_channels_last
from .compare import BIT_EXACT, TOP1
from .reference import quantize_codes

TFLITE_FILE = "model.tflite"
ONNX_FILE = "model.onnx"


@dataclass(frozen=True)
class RunnerSpec:
    """``artifact``: path relative to OUT that must exist for the row to run."""

    name: str
    artifact: str
    policy: str
    run: Callable[[Path, list], list]
    version: Callable[[], str]
    latency_ms: Optional[Callable[[Path, list], Optional[float]]] = None


def adapter(module: str):
    """The runtime adapter ``edgeconv.runtimes.<module>`` (the repository's ``runtimes/``)."""
    try:
        return importlib.import_module(f"edgeconv.runtimes.{module}")
    except ModuleNotFoundError as err:
        if not (err.name or "").startswith("edgeconv.runtimes"):
            raise
        return importlib.import_module(f"runtimes.{module}")


@functools.lru_cache(maxsize=4)
def _tflite_io_quant(path: Path, mtime: float) -> tuple:
    """((dtype code, scale, zero point) per input) of a .tflite, read from the flatbuffer."""
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    result = []
    for i in range(graph.InputsLength()):
        t = graph.Tensors(graph.Inputs(i))
        q = t.Quantization()
        quant = None if q is None or q.ScaleLength() == 0 else (float(q.Scale(0)), int(q.ZeroPoint(0)))
        result.append((t.Type(), quant))
    return tuple(result)


def _tflite_feeds(path: Path, x: list) -> list:
    feeds = []
    for (kind, quant), a in zip(_tflite_io_quant(path, path.stat().st_mtime), x):
        if kind == tflite.TensorType.INT8:
            a = quantize_codes(a, *quant)
        feeds.append(to_channels_last(a))
    return feeds


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _tflite_runner(module: str):
    def run(out_dir: Path, x: list) -> list:
        # In a child process: a model the C++ interpreter rejects may abort instead of raising,
        # and that must be a failed row, not the end of verify.
        path = Path(out_dir) / TFLITE_FILE
        outputs = adapter("isolated").run_isolated(module, path, _tflite_feeds(path, x))
        return [to_channels_first(np.asarray(o)) for o in outputs]
    return run


def _onnx_run(out_dir: Path, x: list) -> list:
    graph = load_graph(Path(out_dir) / IR_FILE_NAME)
    feeds = []
    for name, a in zip(graph.inputs, x):
        q = graph.tensors[name].quant
        feeds.append(a if graph.tensors[name].dtype != "int8" else
                     quantize_codes(a, float(q.scale[0]), int(q.zero_point[0])))
    return [np.asarray(o) for o in _as_list(adapter("onnxruntime").run(Path(out_dir) / ONNX_FILE, feeds))]


def _version(module: str) -> Callable[[], str]:
    return lambda: adapter(module).version()


RUNNERS: dict = {spec.name: spec for spec in (
    RunnerSpec("tflite-litert", TFLITE_FILE, TOP1, _tflite_runner("litert"), _version("litert")),
    RunnerSpec("tflite-micro", TFLITE_FILE, BIT_EXACT, _tflite_runner("tflm"), _version("tflm")),
    RunnerSpec("onnxruntime", ONNX_FILE, TOP1, _onnx_run, _version("onnxruntime")),
)}
