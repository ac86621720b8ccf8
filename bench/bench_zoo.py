"""Zoo models at int8 and binary (w1a1): our C runtime against LiteRT, TFLM and ONNX Runtime.

For each zoo model (``edgeconv.zoo``, trained on the digits data set; the trained weights are
cached) and each precision it exports the model with ``torch.export`` to ``.pt2``, runs
``edgeconv.api.compress`` with calibration / fine-tuning data and validation data from
``digits_dataset()``, compiles the C project for this machine (-O2), and times every runtime
single threaded, interleaved in the same run (``common.py`` says how). LiteRT and TFLM run the
emitted ``model.tflite`` (int8 I/O), ONNX Runtime the emitted ``model.onnx`` (float I/O).
A binary layer is an ordinary int8 layer for the peers (DESIGN §2), so they run it at int8 speed.
The last table compares the binary net with the int8 net: our time, their ratio, accuracy, arena.

    python bench/bench_zoo.py [--models tinycnn,resnet8] [--precisions int8,w1a1]

Prints markdown tables and writes ``bench/results/zoo.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from common import (ModelResult, CRunnerTimer, arena_table, errors_text, load_note, machine, measure,  # noqa: I001
                    peer_timers, time_table, tflm_arena, write_results)

PRECISIONS = ("int8", "w1a1")
CALIBRATION_SAMPLES = 1024
VALIDATION_SAMPLES = 500
TIMED_SAMPLES = 16


@dataclass
class Compressed:
    out: Path
    accuracy_float: Optional[float]
    accuracy: Optional[float]
    arena_bytes: Optional[int]
    weights_bytes: Optional[int]


def compress_zoo_model(name: str, precision: str, work: Path) -> Compressed:
    """Export the trained zoo model to .pt2 and compress it at ``precision`` for the host."""
    import torch

    from edgeconv import api
    from edgeconv.zoo.training import digits_dataset, trained

    x_train, _, x_val, y_val = digits_dataset()
    model_path = work / f"{name}.pt2"
    if not model_path.exists():
        model = trained(name).eval()
        torch.export.save(torch.export.export(model, (torch.from_numpy(x_val[:1]),)), str(model_path))
    calibration, validation = work / "calibration.npz", work / "validation.npz"
    if not calibration.exists():
        np.savez(calibration, x=x_train[:CALIBRATION_SAMPLES])
        np.savez(validation, x=x_val[:VALIDATION_SAMPLES], y=y_val[:VALIDATION_SAMPLES])
    out = work / f"{name}-{precision}"
    report = api.compress(model_path, "host", data=calibration, val_data=validation, precisions=precision, out=out)
    return Compressed(out, report["accuracy"]["float"], report["accuracy"]["compressed"], report["arena_bytes"],
                      report["weights_bytes"])


def bench_model(name: str, precision: str, work: Path) -> tuple:
    """(ModelResult, Compressed) of one zoo model at one precision."""
    from edgeconv.zoo.training import digits_dataset

    compressed = compress_zoo_model(name, precision, work)
    out = compressed.out
    x = digits_dataset()[2][:TIMED_SAMPLES]  # float32 NCHW: the runner quantizes inside
    errors: dict = {}
    timers = {"c": CRunnerTimer(out / "c", work / f"{name}-{precision}-build", x),
              **peer_timers(out / "model.tflite", out / "model.onnx", errors)}
    times = measure(timers)
    arena = tflm_arena(out / "model.tflite", compressed.arena_bytes)
    return ModelResult(name, precision, times, arena, compressed.weights_bytes, errors), compressed


def _pct(value: Optional[float]) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def binary_vs_int8_table(results: dict) -> str:
    """Per net with both precisions: our int8 and w1a1 times, int8/w1a1 speed-up, accuracies, arenas."""
    header = ("| model | ours int8 ms | ours w1a1 ms | speed-up (int8 / w1a1) | float acc | int8 acc | w1a1 acc "
              "| int8 arena KiB | w1a1 arena KiB |")
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for name in sorted({n for n, _ in results}):
        if (name, "int8") not in results or (name, "w1a1") not in results:
            continue
        (r8, c8), (r1, c1) = results[(name, "int8")], results[(name, "w1a1")]
        t8, t1 = r8.times.get("c"), r1.times.get("c")
        speedup = f"{t8.median_ms / t1.median_ms:.2f}×" if t8 and t1 else "—"
        lines.append(f"| {name} | {t8.median_ms:.3f} | {t1.median_ms:.3f} | {speedup} | {_pct(c8.accuracy_float)} "
                     f"| {_pct(c8.accuracy)} | {_pct(c1.accuracy)} | {(c8.arena_bytes or 0) / 1024:.1f} "
                     f"| {(c1.arena_bytes or 0) / 1024:.1f} |")
    return "\n".join(lines)


def _payload(info: dict, results: dict, failures: dict, complete: bool) -> dict:
    return {"machine": info, "note": load_note(info), "complete": complete,
            "compress_failures": {f"{name} {precision}": message for (name, precision), message in failures.items()},
            "models": [{**result.to_dict(), "accuracy": {"float": c.accuracy_float, "compressed": c.accuracy}}
                       for result, c in results.values()]}


def main(argv=None) -> int:
    from edgeconv.errors import UserError
    from edgeconv.zoo.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo model names")
    parser.add_argument("--precisions", default=",".join(PRECISIONS), help="comma-separated precisions")
    args = parser.parse_args(argv)
    info = machine()
    results, failures = {}, {}
    with tempfile.TemporaryDirectory(prefix="edgeconv-bench-zoo-") as tmp:
        for name in args.models.split(","):
            work = Path(tmp) / name
            work.mkdir()
            for precision in args.precisions.split(","):
                try:
                    results[(name, precision)] = bench_model(name, precision, work)
                except UserError as err:  # edgeconv refused this model: reported, the others still run
                    failures[(name, precision)] = str(err)
                write_results("zoo", _payload(info, results, failures, complete=False))  # survives a stop
                print(f"{name} {precision}: {failures.get((name, precision), 'done')}", file=sys.stderr)
    rows = [result for result, _ in results.values()]
    print(f"Machine: {load_note(info)}\n")
    print("Time per inference (batch 1, single thread, median); ratio = ours / theirs (below 1 = we are faster):\n")
    print(time_table(rows))
    print("\nActivation memory (arena) and weights:\n")
    print(arena_table(rows))
    print("\nBinary (w1a1) against int8, same net (our C runtime):\n")
    print(binary_vs_int8_table(results))
    if errors_text(rows):
        print("\nRuntimes that could not run a model:\n" + errors_text(rows))
    for (name, precision), message in failures.items():
        print(f"\ncompress failed for {name} {precision}: {message}")
    path = write_results("zoo", _payload(info, results, failures, complete=True))
    print(f"\nwritten {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
