"""Time of `compress` per phase on 224x224 networks and a zoo model (search at scale).

For each model: export it (``.pt2``), draw calibration images, and run ``edgeconv.api.compress``
for ``rpi4`` with every precision allowed and a latency budget halfway between the model's
all-fp32 and all-int8 predictions (the selector must mix precisions, as in ``make demo``),
``--epochs 0`` unless ``--epochs`` says otherwise. The phases are timed by wrapping the pipeline's
functions for the run (the library is not changed):

- ``load``: reading the model file into the IR;
- ``calibrate``: activation ranges of the float graph for the trials (torch executor);
- ``sensitivity``: every layer at every precision, each trial replayed from cached activations;
- ``plan trials``: the selector's plan and the other candidates that meet the budget, each run
  whole (at most ``selection.PLAN_TRIALS``);
- ``quantize``: post-training quantization (or fine-tuning) of the chosen plan;
- ``emit``: writing the ``.onnx``, ``.tflite`` and C;
- ``score``: the report's top-1 of the compressed model (C host build or numpy reference) and of
  the float model (torch executor);
- ``total``: the whole ``compress`` call; the rest is selection, prediction and the report.

Each phase is given in wall-clock seconds and in CPU seconds (this process's threads and the
compilers it started): on a shared machine the wall-clock time grows with the other work, the CPU
time much less; on an idle 2-core machine the wall-clock time of a phase lies between its CPU time
and half of it (torch runs an operator on both cores).

The 224x224 models are ``edgeconv.zoo.families`` (seeded weights, BatchNorm statistics from
structured images) with random labels, so their accuracies mean nothing; the times do.

    .venv/bin/python bench/bench_search.py             # mobilenetv2-224, resnet18-224, the zoo's resnet8
    .venv/bin/python bench/bench_search.py --models mobilenetv2-224 --samples 64 --device cpu
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

import edgeconv.api as ec
from edgeconv import progress
from edgeconv.frontend import load_model
from edgeconv.passes.pipeline import prepare
from edgeconv.pipeline import selection
from edgeconv.quant.precision import uniform_precisions
from edgeconv.select import sensitivity
from edgeconv.select.latency import fastest_algorithm, predict_graph_ms
from edgeconv.targets import load_target
from edgeconv.zoo.export import export, save_npz
from edgeconv.zoo.families import export_family, structured_images
from edgeconv.zoo.training import digits_dataset

compress_step = importlib.import_module("edgeconv.pipeline.compress")  # the module, not the function
TARGET = "rpi4"
FAMILY_MODELS = {"mobilenetv2-224": "mobilenetv2", "resnet18-224": "resnet18"}  # bench name -> family
ZOO_MODELS = ("resnet8",)
PHASES = {  # phase -> (module, function name) whose calls it times
    "load": (ec, "_load_graph"),
    "calibrate": (selection, "calibrate"),
    "sensitivity": (selection, "measure"),
    "plan trials": (selection, "plan_costs"),
    "quantize": (compress_step, "finetune"),
    "emit": (compress_step, "_emit"),
    "score": (compress_step, "_measure_accuracy"),
}


def clocks() -> tuple:
    """(wall seconds, CPU seconds of this process and its finished children)."""
    t = os.times()
    return time.perf_counter(), t.user + t.system + t.children_user + t.children_system


@contextlib.contextmanager
def timed_phases(totals: dict):
    """Wrap each function of PHASES so that its calls add their (wall, CPU) seconds to
    ``totals[phase]``."""
    saved = []
    for phase, (module, name) in PHASES.items():
        original = getattr(module, name)

        def wrapper(*args, _original=original, _phase=phase, **kwargs):
            wall, cpu = clocks()
            try:
                return _original(*args, **kwargs)
            finally:
                end_wall, end_cpu = clocks()
                totals[_phase] = (totals[_phase][0] + end_wall - wall, totals[_phase][1] + end_cpu - cpu)

        saved.append((module, name, original))
        setattr(module, name, wrapper)
    try:
        yield totals
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def prepare_model(name: str, samples: int, work: Path) -> tuple:
    """(model path, calibration .npz) for a family or zoo model."""
    model = work / f"{name}.pt2"
    data = work / f"{name}-calib.npz"
    if name in FAMILY_MODELS:
        export_family(FAMILY_MODELS[name], model)
        x = structured_images(samples, seed=1)
        y = np.random.default_rng(1).integers(0, 1000, samples)
    else:
        export(name, model)
        x, y, _, _ = digits_dataset()
        x, y = x[:samples], y[:samples]
    save_npz(data, x, y)
    return model, data


def halfway_budget(model: Path) -> float:
    """A budget halfway between the all-fp32 and all-int8 predictions for the target, at the
    thread count ``compress`` predicts for (every core of the board)."""
    graph = prepare(load_model(model))  # as compress predicts it: BatchNorm folded, activations fused
    target = load_target(TARGET).with_threads(None)

    def predicted(precision: str) -> float:
        trial = graph.copy()
        chosen = uniform_precisions(trial, precision)
        for node in trial.nodes:
            node.precision = chosen[node.name]
            if node.op.WEIGHTED:  # each layer's fastest kernel, as the selector would take
                node.algorithm = fastest_algorithm(target, trial, node, node.precision)
        return predict_graph_ms(target, trial).ms

    return round((predicted("fp32") + predicted("int8")) / 2, 4)


def bench(name: str, samples: int, epochs: int, device: str, work: Path) -> dict:
    model, data = prepare_model(name, samples, work)
    budget = halfway_budget(model)
    totals = defaultdict(lambda: (0.0, 0.0))
    with timed_phases(totals):
        wall, cpu = clocks()
        report = ec.compress(model, TARGET, latency_ms=budget, data=data, epochs=epochs, device=device,
                             out=work / f"{name}-out", force=True)
        end_wall, end_cpu = clocks()
        totals["total"] = (end_wall - wall, end_cpu - cpu)
    mix = sorted({layer["precision"] for layer in report["layers"]})
    return {"model": name, "samples": samples, "epochs": epochs, "budget_ms": budget,
            "predicted_ms": report["predicted_latency_ms"], "precisions": mix,
            "sensitivity_samples": min(samples, selection.sensitivity_samples(prepare(load_model(model)))),
            "seconds": {phase: [round(totals[phase][0], 1), round(totals[phase][1], 1)] for phase in (*PHASES, "total")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join((*FAMILY_MODELS, *ZOO_MODELS)))
    parser.add_argument("--samples", type=int, default=64, help="calibration images")
    parser.add_argument("--epochs", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    progress.configure(bars=False)
    cpu = load_target("host").cpu
    print(f"CPU: {cpu.model}, {cpu.cores} cores, {' '.join(cpu.features)}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}; {platform.python_version()}")
    results = []
    with tempfile.TemporaryDirectory(prefix="edgeconv-bench-search-") as tmp:
        os.environ["EDGECONV_CACHE_DIR"] = str(Path(tmp) / "cache")  # no sensitivity from an earlier run
        for name in args.models.split(","):
            result = bench(name, args.samples, args.epochs, args.device, Path(tmp))
            results.append(result)
            phases = "  ".join(f"{p} {w:.1f}/{c:.1f}" for p, (w, c) in result["seconds"].items())
            print(f"{name}: {args.samples} images ({result['sensitivity_samples']} for sensitivity), budget "
                  f"{result['budget_ms']} ms -> predicted {result['predicted_ms']:.3f} ms "
                  f"({', '.join(result['precisions'])}); seconds wall/CPU: {phases}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
