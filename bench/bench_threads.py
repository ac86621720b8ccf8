"""Our C runtime on its thread pool: the speedup of two threads over one, and our two-thread time
against LiteRT+XNNPACK's at two threads.

Models: the MLPerf Tiny int8 models (``tests/data/mlperf_tiny``, their own quantization kept) and
MobileNetV2 1.0 at 224 x 224 (``edgeconv.zoo.families``: seeded weights, BatchNorm statistics
gathered on structured images), compressed at int8 without fine-tuning. Each model is compressed
for ``host`` with ``--threads 2`` (the layers cut for two threads), its runner built once per
timer (-O2, the CPU's x86 level), then timed at ``--threads 1`` and ``--threads 2`` against
LiteRT's interpreter with XNNPACK at ``num_threads`` 1 and 2, interleaved in the same run
(``common.py``: rounds, medians). Before timing, the two-thread output is checked to be the
one-thread output byte for byte on the timing inputs.

Goals: two threads at least 1.8x one thread on MobileNetV2-224, and
our two-thread time at most XNNPACK's two-thread time. The machine is shared: read the ratios of
one run, not the milliseconds, and the load average printed with them.

    python bench/bench_threads.py [--models ic_resnet8_int8,mobilenetv2_224] [--threads 2]

Prints a markdown table and writes ``bench/results/threads.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import CRunnerTimer, litert_timer, load_note, machine, measure, write_results  # noqa: I001

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ("ic_resnet8_int8", "kws_dscnn_int8", "ad_fc_autoencoder_int8")
FAMILY_224 = {"mobilenetv2_224": "mobilenetv2"}
SAMPLES = 4
CALIBRATION_224 = 16
SPEEDUP_GOAL = 1.8


def mlperf(name: str, work: Path) -> tuple:
    """(model file, compress options, tflite for LiteRT, timing inputs in the model's layout)."""
    from edgeconv.runtimes import tflm

    path = ROOT / "tests" / "data" / "mlperf_tiny" / f"{name}.tflite"
    tensor = tflm._subgraph(path)
    tensor = tensor.Tensors(tensor.Inputs(0))
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()[1:])
    x = np.random.default_rng(0).integers(-128, 128, size=(SAMPLES, *shape), dtype=np.int8)
    return path, {}, path, x


def family_224(name: str, work: Path) -> tuple:
    from edgeconv.zoo.families import export_family, structured_images

    path = export_family(FAMILY_224[name], work / f"{name}.pt2")
    np.savez(work / f"{name}-calibration.npz", x=structured_images(CALIBRATION_224, seed=1))
    options = {"data": work / f"{name}-calibration.npz", "precisions": "int8", "epochs": 0}
    return path, options, None, structured_images(SAMPLES, seed=2)


def bench_model(name: str, threads: int, work: Path) -> dict:
    from edgeconv import api

    source = mlperf if name in MLPERF else family_224
    path, options, tflite, x = source(name, work)
    out = work / f"{name}-out"
    report = api.compress(path, "host", emit="tflite,c", out=out, force=True, threads=threads, **options)
    tflite = tflite or out / "model.tflite"
    ours = {t: CRunnerTimer(out / "c", work / f"{name}-build-{t}", x, threads=t) for t in (1, threads)}
    same = {t: timer.runner.run(timer.binary, x, threads=t).outputs for t, timer in ours.items()}
    if same[threads].tobytes() != same[1].tobytes():
        raise SystemExit(f"{name}: the {threads}-thread output differs from the one-thread output")
    timers = {f"ours-{t}": timer for t, timer in ours.items()}
    timers.update({f"xnnpack-{t}": litert_timer(tflite, "xnnpack", threads=t) for t in (1, threads)})
    times = measure(timers)
    split = (out / "c" / "model.c").read_text().count("ec_pool_run(")  # layers cut into tasks
    return {"threads": threads, "predicted_ms": report["predicted_latency_ms"], "split_layers": split,
            "times": {k: vars(v) for k, v in times.items()}}


def table(results: dict) -> str:
    lines = ["| model | ours 1T ms | ours NT ms | ours NT/1T speedup | XNNPACK 1T ms | XNNPACK NT ms "
             "| XNNPACK speedup | ours NT / XNNPACK NT |", "|" + "---|" * 8]
    for name, r in results.items():
        n, t = r["threads"], r["times"]
        ours1, oursn = t["ours-1"]["median_ms"], t[f"ours-{n}"]["median_ms"]
        xnn1, xnnn = t["xnnpack-1"]["median_ms"], t[f"xnnpack-{n}"]["median_ms"]
        lines.append(f"| {name} | {ours1:.3f} | {oursn:.3f} | {ours1 / oursn:.2f}x | {xnn1:.3f} | {xnnn:.3f} "
                     f"| {xnn1 / xnnn:.2f}x | {oursn / xnnn:.2f}x |")
    return "\n".join(lines).replace("NT", f"{next(iter(results.values()))['threads']}T") if results else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join((*MLPERF, *FAMILY_224)))
    parser.add_argument("--threads", type=int, default=2, help="the thread count compared with one (default 2)")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MLPERF and n not in FAMILY_224]
    if unknown:
        raise SystemExit(f"unknown model(s) {', '.join(unknown)}; known: {', '.join((*MLPERF, *FAMILY_224))}")
    info = machine()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        for name in names:
            results[name] = bench_model(name, args.threads, Path(tmp))
    print(load_note(info))
    print(table(results))
    for name in FAMILY_224:
        if name in results:
            r = results[name]["times"]
            speedup = r["ours-1"]["median_ms"] / r[f"ours-{args.threads}"]["median_ms"]
            print(f"{name}: {args.threads} threads {speedup:.2f}x one thread (goal >= {SPEEDUP_GOAL}x)")
    path = write_results("threads", {"machine": info, "models": results})
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
