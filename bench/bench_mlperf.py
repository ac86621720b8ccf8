"""MLPerf Tiny int8 models: our C runtime against LiteRT (XNNPACK, builtin), TFLM and ONNX Runtime.

For each model of ``tests/data/mlperf_tiny`` it runs ``compress --target host`` (the model's own
quantization kept), compiles the C project for this machine (-O2), checks on 16 seeded random int8
inputs that the C runner's output equals TFLM's byte for byte, then times every runtime single
threaded, interleaved in the same run (``common.py`` says how), and compares our arena with TFLM's.
LiteRT and TFLM run the original ``.tflite``; ONNX Runtime runs the emitted ``model.onnx``.

    python bench/bench_mlperf.py [--models ic_resnet8_int8,kws_dscnn_int8]

Prints two markdown tables (time, memory) and writes ``bench/results/mlperf.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import (ModelResult, CRunnerTimer, arena_table, errors_text, load_note, machine, measure,  # noqa: I001
                    peer_timers, time_table, tflm_arena, write_results)

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mlperf_tiny"
MODELS = ("ic_resnet8_int8", "kws_dscnn_int8", "ad_fc_autoencoder_int8")
SAMPLES = 16
SEED = 20240611


def model_inputs(path: Path) -> np.ndarray:
    """SAMPLES seeded random int8 inputs in the model's own layout and dtype."""
    from edgeconv.runtimes import tflm

    tensor = tflm._subgraph(path)
    tensor = tensor.Tensors(tensor.Inputs(0))
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()[1:])
    return np.random.default_rng(SEED).integers(-128, 128, size=(SAMPLES, *shape), dtype=np.int8)


def bench_model(name: str, work: Path) -> tuple:
    """(ModelResult, C output == TFLM output on the SAMPLES inputs)."""
    from edgeconv import api
    from edgeconv.runtimes import tflm

    path = DATA / f"{name}.tflite"
    out = work / name
    report = api.compress(path, "host", out=out)
    x = model_inputs(path)
    ours = CRunnerTimer(out / "c", work / f"{name}-build", x)
    bit_exact = bool(np.array_equal(ours.runner.run(ours.binary, x).outputs, tflm.run(path, x)))
    errors: dict = {}
    timers = {"c": ours, **peer_timers(path, out / "model.onnx", errors)}
    times = measure(timers)
    result = ModelResult(name, "int8 (own)", times, tflm_arena(path, report["arena_bytes"]), report["weights_bytes"],
                         errors)
    return result, bit_exact


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    args = parser.parse_args(argv)
    info = machine()
    results, exact = [], {}
    with tempfile.TemporaryDirectory(prefix="edgeconv-bench-mlperf-") as tmp:
        for name in args.models.split(","):
            result, exact[name] = bench_model(name, Path(tmp))
            results.append(result)
            print(f"{name}: done (C == TFLM on {SAMPLES} inputs: {exact[name]})", file=sys.stderr)
    print(f"Machine: {load_note(info)}\n")
    print("Time per inference (batch 1, single thread, median); ratio = ours / theirs (below 1 = we are faster):\n")
    print(time_table(results))
    print("\nActivation memory (arena) and weights:\n")
    print(arena_table(results))
    print("\nC output == TFLM output (16 random inputs): " + ", ".join(f"{k}: {v}" for k, v in exact.items()))
    if errors_text(results):
        print("\nRuntimes that could not run a model:\n" + errors_text(results))
    path = write_results("mlperf", {"machine": info, "note": load_note(info), "c_equals_tflm": exact,
                                    "models": [r.to_dict() for r in results]})
    print(f"\nwritten {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
