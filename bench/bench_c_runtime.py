"""Benchmark: edgeconv's generated C against LiteRT (XNNPACK and builtin kernels) and TFLite Micro,
single thread, same inputs, same run; arena against TFLM's planned activation area.

    python bench/bench_c_runtime.py [--models ic_resnet8_int8,...] [--runs 200] [--json out.json]

Models are the MLPerf Tiny int8 .tflite files in tests/data/mlperf_tiny (imported with the TFLite
frontend, C output checked bit-exact against TFLM before timing). Times are medians per sample
in ms (batch 1); LiteRT and TFLM are timed around invoke() only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeconv.backends.c import build_host, generate
from edgeconv.frontend.tflite import load_tflite
from edgeconv.runtimes import litert, tflm

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "mlperf_tiny"
MODELS = ["ic_resnet8_int8", "kws_dscnn_int8", "ad_fc_autoencoder_int8"]


def model_inputs(graph, n: int, seed: int = 0) -> np.ndarray:
    t = graph.tensors[graph.inputs[0]]
    shape = (n, *t.shape[1:])
    if len(shape) == 4:  # the .tflite's own NHWC layout
        shape = (n, shape[2], shape[3], shape[1])
    return np.random.default_rng(seed).integers(-128, 128, size=shape, dtype=np.int8)


def time_invoke(invoke, set_input, x: np.ndarray, runs: int) -> float:
    times = []
    for i in range(runs):
        set_input(x[i % len(x): i % len(x) + 1])
        t0 = time.perf_counter()
        invoke()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def litert_ms(path: Path, x: np.ndarray, runs: int, resolver: str) -> float:
    interp = litert._make(path, resolver)
    interp.allocate_tensors()
    idx = interp.get_input_details()[0]["index"]
    interp.set_tensor(idx, x[:1])
    interp.invoke()  # warm up (XNNPACK packs weights on first run)
    return time_invoke(interp.invoke, lambda s: interp.set_tensor(idx, s), x, runs)


def tflm_ms(path: Path, x: np.ndarray, runs: int) -> float:
    interp = tflm._interpreter(path)
    interp.set_input(x[:1], 0)
    interp.invoke()
    return time_invoke(interp.invoke, lambda s: interp.set_input(s, 0), x, max(runs // 10, 5))


def ours(graph, x: np.ndarray, runs: int, work: Path) -> tuple:
    project = generate(graph, work / "c")
    binary, info = build_host(work / "c", work / "edgeconv_run", profile=False)
    np.save(work / "x.npy", x)
    repeat = max(1, runs // len(x))
    subprocess.run([str(binary), "--repeat", str(repeat), "--timing", str(work / "t.json"), str(work / "x.npy"),
                    str(work / "y.npy")], check=True)
    timing = json.loads((work / "t.json").read_text())
    return timing["median_ms"], project, np.load(work / "y.npy"), info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        path = DATA / f"{name}.tflite"
        graph = load_tflite(path)
        x = model_inputs(graph, 16)
        with tempfile.TemporaryDirectory() as tmp:
            ms, project, y, info = ours(graph, x, args.runs, Path(tmp))
        exact = bool(np.array_equal(y, tflm.run(path, x)))
        row = {
            "model": name, "bit_exact_vs_tflm": exact, "edgeconv_c_ms": ms,
            "litert_xnnpack_ms": litert_ms(path, x, args.runs, "xnnpack"),
            "litert_builtin_ms": litert_ms(path, x, args.runs, "builtin"),
            "tflm_ms": tflm_ms(path, x, args.runs),
            "arena_bytes": project.arena_bytes,
            "tflm_arena_head_bytes": tflm.arena_report(path).head_bytes, "isa": info["isa"],
        }
        rows.append(row)
    print("| model | bit-exact | edgeconv C ms | LiteRT+XNNPACK ms | LiteRT builtin ms | TFLM ms | "
          "C / XNNPACK | TFLM / C | arena B | TFLM arena head B | arena ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['bit_exact_vs_tflm']} | {r['edgeconv_c_ms']:.3f} | {r['litert_xnnpack_ms']:.3f} | "
              f"{r['litert_builtin_ms']:.3f} | {r['tflm_ms']:.3f} | {r['edgeconv_c_ms'] / r['litert_xnnpack_ms']:.2f} | "
              f"{r['tflm_ms'] / r['edgeconv_c_ms']:.1f} | {r['arena_bytes']} | "
              f"{r['tflm_arena_head_bytes']} | {r['arena_bytes'] / r['tflm_arena_head_bytes']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
