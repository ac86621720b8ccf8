"""ONNX Runtime on one thread, sequential execution (the CPU execution provider)."""

from __future__ import annotations

import numpy as np

from ._batch import Inputs, as_input_list, single_or_list

NAME = "onnxruntime"


def version() -> str:
    import onnxruntime
    return onnxruntime.__version__


def session(model_path):
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])


def run(model_path, x: Inputs):
    """Outputs of the model for ``x`` (whole batch in one call; the model's batch dim must allow it)."""
    sess = session(model_path)
    feeds = {i.name: np.ascontiguousarray(a) for i, a in zip(sess.get_inputs(), as_input_list(x))}
    return single_or_list([np.asarray(o) for o in sess.run(None, feeds)])
