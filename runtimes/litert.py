"""LiteRT (``ai-edge-litert``; ``tflite_runtime`` where that is what is installed, same API).

Single thread. ``op_resolver="xnnpack"`` is LiteRT's default (XNNPACK delegate applied);
``"builtin"`` runs its builtin optimized kernels without default delegates
(``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``). Neither reproduces TFLM's int8 bytes
exactly (DESIGN §2): compare on top-1 and report the difference.
"""

from __future__ import annotations

import numpy as np

from ._batch import Inputs, as_input_list, batch_size, single_or_list

NAME = "tflite-litert"
OP_RESOLVERS = ("xnnpack", "builtin")


def _interpreter_module():
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        from tflite_runtime import interpreter
    return interpreter


def version() -> str:
    try:
        import ai_edge_litert
        return f"ai-edge-litert {ai_edge_litert.__version__}"
    except ImportError:
        import tflite_runtime
        return f"tflite_runtime {tflite_runtime.__version__}"


def _make(model_path, op_resolver: str, num_threads: int = 1):
    if op_resolver not in OP_RESOLVERS:
        raise ValueError(f"op_resolver must be one of {OP_RESOLVERS}, got {op_resolver!r}")
    module = _interpreter_module()
    kinds = module.OpResolverType
    kind = kinds.AUTO if op_resolver == "xnnpack" else kinds.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return module.Interpreter(model_path=str(model_path), num_threads=num_threads, experimental_op_resolver_type=kind)


def run(model_path, x: Inputs, op_resolver: str = "xnnpack"):
    """Outputs of the model for ``x``; the input tensors are resized to the batch size."""
    inputs = as_input_list(x)
    n = batch_size(inputs)
    interpreter = _make(model_path, op_resolver)
    details = interpreter.get_input_details()
    for d, a in zip(details, inputs):
        if int(d["shape"][0]) != n:
            interpreter.resize_tensor_input(d["index"], [n, *[int(s) for s in d["shape"][1:]]])
    interpreter.allocate_tensors()
    for d, a in zip(details, inputs):
        interpreter.set_tensor(d["index"], np.ascontiguousarray(a, dtype=d["dtype"]))
    interpreter.invoke()
    outputs = [np.array(interpreter.get_tensor(d["index"])) for d in interpreter.get_output_details()]
    return single_or_list(outputs)
