#!/usr/bin/env python3
"""Run a .tflite on the board with the board's own interpreter, for users who ship the TFLite artifact.

Copied to the board and run there by ``edgeconv.runtimes.board_tflite`` (it needs only numpy and
``ai_edge_litert`` or ``tflite_runtime`` on the board; it imports nothing from edgeconv):

    python3 board_tflite_check.py model.tflite in.npy out.npy timing.json

Runs every sample of ``in.npy`` (the model's own input dtype and layout) one at a time on one
thread, writes the outputs and ``{"median_ms", "min_ms", "runs", "runtime", "version"}``.
Exit codes: 0 done, 2 bad input, 1 anything else.
"""

import json
import sys
import time


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime"


def _version(distribution):
    try:
        from importlib.metadata import version

        return version(distribution)
    except Exception:  # an old Python or an unusual install: the name alone still says what ran
        return "unknown"


def main(argv):
    if len(argv) != 5:
        print("usage: board_tflite_check.py model.tflite in.npy out.npy timing.json", file=sys.stderr)
        return 2
    import numpy as np

    model_path, in_path, out_path, timing_path = argv[1:]
    interpreter_class, runtime = _interpreter_class()
    interpreter = interpreter_class(model_path=model_path, num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    x = np.load(in_path, allow_pickle=False)
    if x.dtype != inp["dtype"] or tuple(x.shape[1:]) != tuple(inp["shape"][1:]):
        print(f"{in_path}: expected {inp['dtype'].__name__} (N, {tuple(inp['shape'][1:])}), got {x.dtype} {x.shape}",
              file=sys.stderr)
        return 2
    results, times = [], []
    for sample in x:
        interpreter.set_tensor(inp["index"], sample[None])
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1000.0)
        results.append(interpreter.get_tensor(out["index"])[0].copy())
    np.save(out_path, np.stack(results))
    times.sort()
    with open(timing_path, "w") as f:
        json.dump({"median_ms": times[len(times) // 2], "min_ms": times[0], "runs": len(times),
                   "runtime": runtime, "version": _version(runtime)}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
