"""TensorFlow Lite Micro (``tflite-micro`` Python interpreter): the int8 oracle.

TFLM runs TFLite's reference kernels, which edgeconv's integer semantics reproduce bit for bit.
Its interpreter takes one sample at a time, so ``run`` loops over the batch.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._batch import Inputs, as_input_list, run_per_sample, single_or_list

NAME = "tflite-micro"


def version() -> str:
    import tflite_micro
    return tflite_micro.__version__


def _interpreter(model_path, preserve_all_tensors: bool = False):
    from tflite_micro.python.tflite_micro import runtime
    config = (runtime.InterpreterConfig.kPreserveAllTensors if preserve_all_tensors
              else runtime.InterpreterConfig.kAllocationRecording)
    return runtime.Interpreter.from_file(str(model_path), intrepreter_config=config)


# TFLite tensor type codes -> numpy dtypes, for the inputs ``arena_report`` feeds.
_NUMPY_TYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 7: np.int16, 9: np.int8}


def _subgraph(model_path):
    """Subgraph 0 of the model, read with the ``tflite`` schema package."""
    import tflite
    return tflite.Model.GetRootAsModel(Path(model_path).read_bytes(), 0).Subgraphs(0)


def _invoke(interpreter, sample: list, n_outputs: int) -> list:
    for i, a in enumerate(sample):
        interpreter.set_input(np.ascontiguousarray(a), i)
    interpreter.invoke()
    return [np.array(interpreter.get_output(k)) for k in range(n_outputs)]


def run(model_path, x: Inputs):
    """Outputs of the model for ``x`` (one array, or one per model input), batch looped."""
    interpreter = _interpreter(model_path)
    n_outputs = _subgraph(model_path).OutputsLength()
    outputs = run_per_sample(as_input_list(x), lambda sample: _invoke(interpreter, sample, n_outputs))
    return single_or_list(outputs)


def tensors(model_path, x: Inputs) -> dict:
    """Every tensor of subgraph 0 after running one sample: ``{tensor index: array}``."""
    interpreter = _interpreter(model_path, preserve_all_tensors=True)
    sample = as_input_list(x)
    for i, a in enumerate(sample):
        interpreter.set_input(np.ascontiguousarray(a), i)
    interpreter.invoke()
    count = _subgraph(model_path).TensorsLength()
    return {index: np.array(interpreter.GetTensor(index, 0)["tensor_data"]) for index in range(count)}


@dataclass(frozen=True)
class ArenaReport:
    """TFLM's arena after one inference: ``head`` is the planned activation area (tensors and
    scratch buffers), ``tail`` the persistent allocations, ``total`` their sum, all in bytes."""

    head_bytes: int
    tail_bytes: int
    total_bytes: int


_ARENA_LINE = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")


def _capture_stderr(fn) -> str:
    """Run ``fn`` and return what it (C++ code included) wrote to file descriptor 2."""
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return sink.read().decode("utf-8", "replace")


def arena_report(model_path) -> ArenaReport:
    """Run the model once on zeros and parse ``print_allocations()``."""
    interpreter = _interpreter(model_path)
    graph = _subgraph(model_path)
    for i in range(graph.InputsLength()):
        t = graph.Tensors(graph.Inputs(i))
        interpreter.set_input(np.zeros(tuple(t.ShapeAsNumpy()), dtype=_NUMPY_TYPES[t.Type()]), i)
    interpreter.invoke()
    text = _capture_stderr(interpreter.print_allocations)
    figures = {kind: int(value) for kind, value in _ARENA_LINE.findall(text)}
    if set(figures) != {"total", "head", "tail"}:
        raise RuntimeError(f"unexpected print_allocations() output: {text[:200]!r}")
    return ArenaReport(figures["head"], figures["tail"], figures["total"])
