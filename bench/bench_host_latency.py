"""The host latency model against the C runner, per model, x86 level and thread count.

For every bench model (the three MLPerf Tiny int8 models, the zoo at int8 and at the mixed
precisions compress picks for a budget halfway between all-fp32 and all-int8, MobileNetV2 and ResNet-18 at 224x224) and every x86
level (``common.bench_levels``: this CPU's and ``avx2``), the model is compressed for ``host``
with that level forced and its release build timed on 1 and on 2 threads, interleaved, in
``--rounds`` rounds; the measured time is the least disturbed call (the minimum: on a shared
machine a median carries the load of other work, and a call of milliseconds is seldom left
alone for its whole length). A profiling build times each layer (per layer, the least of the
rounds' medians). The prediction is the analytical model's (``select.latency``, no measured
table) for the same graph and thread count. It prints prediction against measurement with the
error and how many runs are within +-15%, and writes ``bench/results/host_latency.json``.

    python bench/bench_host_latency.py [--models ic_resnet8_int8,resnet8] [--levels avx2] [--rounds 7]

``--fit`` also fits, from the per-layer profiles of the models not in ``HELD_OUT``, the
figures of the host model (``host_fit.py``): the kernels' per-level figures, the per-layer
fixed cost and the x86 element-wise rates per level; the held-out models check them
(``--fit-held-out`` fits on them too, for a level whose kernels only they exercise: the AMX
im2col layers of ResNet-18-224).
``--work DIR`` keeps the compressed models and measurements there, and ``--reuse`` predicts
again from them without compressing or timing (to compare model changes on the same data).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from common import bench_levels, forced_level, load_note, machine, write_results  # noqa: I001
from bench_levels import FAMILIES, MLPERF, source

TOLERANCE = 0.15
THREADS = (1, 2)
ZOO_MIXED = ("resnet8", "mobilenetv2", "dscnn")
DEFAULT_MODELS = (*MLPERF, "tinycnn", "resnet8", "dscnn", "mobilenetv2", "binarynet",
                  *(f"{m}@mixed" for m in ZOO_MIXED), *FAMILIES)
HELD_OUT = ("kws_dscnn_int8", "dscnn", "resnet18_224", "binarynet", "dscnn@mixed")


@dataclass
class Run:
    """One model at one x86 level: measured end-to-end and per-layer times per thread count."""

    model: str
    level: str
    out: str
    e2e_ms: dict = field(default_factory=dict)          # threads -> least disturbed call, ms
    rounds_ms: dict = field(default_factory=dict)       # threads -> every round's median ms
    layers_ms: dict = field(default_factory=dict)       # threads -> {layer: median ms}
    predicted_ms: dict = field(default_factory=dict)    # threads -> analytical prediction

    def error(self, threads: int) -> Optional[float]:
        measured = self.e2e_ms.get(threads)
        return None if not measured else self.predicted_ms[threads] / measured - 1.0


def _mixed_budget(src, work: Path) -> float:
    """Halfway between the model's all-fp32 and all-int8 predictions at this level (as ``make
    demo`` asks): a budget that the most accurate plan meets only by mixing precisions (or, where
    the selection cannot reach it, 5% above the fastest plan it reaches)."""
    from edgeconv import api

    predicted = {}
    for precisions in ("fp32", "int8"):
        report = api.compress(src.path, "host", emit="c", out=work / "budget", force=True,
                              **{**src.options, "precisions": precisions, "epochs": 0})
        predicted[precisions] = float(report["predicted_latency_ms"])
    return 0.5 * (predicted["fp32"] + predicted["int8"])


def compress(name: str, level: str, work: Path) -> Path:
    from edgeconv import api
    from edgeconv.errors import UserError

    base, _, variant = name.partition("@")
    src = source(base, work)
    out = work / f"{name}-{level}"
    with forced_level(level):
        options = dict(src.options)
        if variant == "mixed":
            options.update(precisions="fp32,int8,w4a4,w2a2,w1a1", epochs=0,
                           latency_ms=_mixed_budget(src, work))
        try:
            api.compress(src.path, "host", emit="c", out=out, force=True, **options)
        except UserError as err:  # the selection's fastest plan can be predicted above the int8 plan
            reachable = re.search(r"fastest predicted latency reachable is ([0-9.e+-]+) ms", str(err))
            if variant != "mixed" or reachable is None:
                raise
            options["latency_ms"] = 1.05 * float(reachable.group(1))
            api.compress(src.path, "host", emit="c", out=out, force=True, **options)
    np.save(out / "timing-input.npy", src.x)
    return out


def _runner_round(binary: Path, x: np.ndarray, threads: int, repeat: int) -> tuple:
    """(median, least) ms of one call over a round of ``repeat`` runs of the inputs."""
    from edgeconv.runtimes.runner import LocalRunner

    timing = LocalRunner().run(binary, x, repeat=repeat, timing=True, threads=threads).timing
    return float(timing["median_ms"]), float(timing["min_ms"])


def measure(run: Run, work: Path, rounds: int, seconds: float) -> None:
    """Release build timed on each thread count in ``rounds`` interleaved rounds of about
    ``seconds`` each; profiling build timed per layer."""
    from edgeconv.backends.c.build import build_host
    from edgeconv.runtimes.runner import LocalRunner

    out = Path(run.out)
    x = np.load(out / "timing-input.npy")
    with forced_level(run.level):
        release, _ = build_host(out / "c", work / f"{out.name}-release" / "edgeconv_run")
        profiling, _ = build_host(out / "c", work / f"{out.name}-profile" / "edgeconv_run", profile=True)
    first = _runner_round(release, x, 1, 1)[0]
    repeat = int(max(10, min(20000, seconds * 1e3 / max(first, 1e-3))) // len(x)) + 1
    samples: dict = {t: [] for t in THREADS}
    for _ in range(rounds):
        for threads in THREADS:
            samples[threads].append(_runner_round(release, x, threads, repeat))
    run.rounds_ms = {t: [median for median, _ in s] for t, s in samples.items()}
    run.e2e_ms = {t: min(least for _, least in s) for t, s in samples.items()}
    for threads in THREADS:
        best: dict = {}
        for _ in range(max(3, rounds // 2)):
            timing = LocalRunner().run(profiling, x, repeat=repeat, timing=True, threads=threads).timing
            for layer, ms in (timing.get("per_layer_ms") or {}).items():
                best[layer] = min(ms, best.get(layer, float("inf")))
        run.layers_ms[threads] = best


def predict(run: Run) -> None:
    from edgeconv.backends.irfile import IR_FILE_NAME, load_graph
    from edgeconv.select.latency import predict_graph_ms
    from edgeconv.targets import load_target

    graph = load_graph(Path(run.out) / IR_FILE_NAME)
    with forced_level(run.level):
        host = load_target("host")
        run.predicted_ms = {t: predict_graph_ms(host, graph, threads=t).ms for t in THREADS}


def layer_rows(run: Run, threads: int = 1) -> list:
    """(layer, op, algorithm, predicted ms, measured ms) of each timed layer of ``run``."""
    from edgeconv.backends.irfile import IR_FILE_NAME, load_graph
    from edgeconv.select.latency import predict_layers
    from edgeconv.targets import load_target

    graph = load_graph(Path(run.out) / IR_FILE_NAME)
    with forced_level(run.level):
        predictions = predict_layers(load_target("host"), graph, threads=threads)
    measured = run.layers_ms.get(threads, {})
    return [(p.name, p.op, p.algorithm, p.ms, measured[p.name]) for p in predictions if p.name in measured]


def table(runs: list) -> str:
    lines = [f"{'model':<24}{'level':<13}{'thr':>4}{'measured ms':>13}{'predicted ms':>14}{'error':>9}"]
    scored = []
    for run in runs:
        for threads in THREADS:
            error = run.error(threads)
            scored.append(error)
            held = " (held out)" if run.model in HELD_OUT else ""
            lines.append(f"{run.model:<24}{run.level:<13}{threads:>4}{run.e2e_ms[threads]:13.4f}"
                         f"{run.predicted_ms[threads]:14.4f}{100 * error:+8.1f}%{held}")
    within = sum(abs(e) <= TOLERANCE for e in scored)
    lines.append(f"within +-{100 * TOLERANCE:.0f}%: {within}/{len(scored)} runs")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--levels", default=None, help="x86 levels (default: this CPU's and avx2)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one timing round")
    parser.add_argument("--work", type=Path, default=None, help="keep models and measurements here")
    parser.add_argument("--reuse", action="store_true", help="predict again from --work's measurements")
    parser.add_argument("--fit", action="store_true", help="fit the per-layer cost and element-wise rates")
    parser.add_argument("--fit-held-out", action="store_true",
                        help="with --fit: fit on the held-out models too (a level whose kernels only they exercise)")
    parser.add_argument("--layers", action="store_true", help="print per-layer prediction and measurement")
    args = parser.parse_args(argv)
    levels = args.levels.split(",") if args.levels else bench_levels()
    info = machine(measure_clock=not args.reuse)
    with tempfile.TemporaryDirectory(prefix="edgeconv-host-latency-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        store = work / "measured.json"
        saved = {(r["model"], r["level"]): r for r in json.loads(store.read_text())} if store.is_file() else {}
        runs = []
        for name in args.models.split(","):
            for level in levels:
                if args.reuse and (name, level) in saved:
                    raw = saved[(name, level)]
                    run = Run(**{**raw, **{k: {int(t): v for t, v in raw[k].items()}
                                           for k in ("e2e_ms", "rounds_ms", "layers_ms", "predicted_ms")}})
                else:
                    run = Run(name, level, str(compress(name, level, work)))
                    measure(run, work, args.rounds, args.seconds)
                    saved[(name, level)] = asdict(run)
                    store.write_text(json.dumps(list(saved.values()), indent=1))
                predict(run)
                runs.append(run)
                print(f"{name} {level}: " + ", ".join(
                    f"{t} thr {run.e2e_ms[t]:.4f} ms measured, {run.predicted_ms[t]:.4f} predicted" for t in THREADS),
                    file=sys.stderr, flush=True)
        if args.layers:
            for run in runs:
                print(f"\n{run.model} {run.level}")
                for name, op, algorithm, predicted, measured in layer_rows(run):
                    print(f"  {name:<28}{op:<14}{algorithm or '':<16}{predicted:10.4f}{measured:10.4f}"
                          f"{100 * (predicted / measured - 1) if measured else 0:+8.0f}%")
        if args.fit:
            from host_fit import fit_report

            print(fit_report([r for r in runs if args.fit_held_out or r.model not in HELD_OUT]))
        print(f"# {load_note(info)}; uptime load {os.getloadavg()[0]:.2f} at the end")
        print(table(runs))
        write_results("host_latency", {
            "machine": info, "note": load_note(info), "levels": levels, "threads": list(THREADS),
            "held_out": [m for m in HELD_OUT if m in args.models.split(",")],
            "runs": [{"model": r.model, "level": r.level, "measured_ms": r.e2e_ms, "rounds_ms": r.rounds_ms,
                      "predicted_ms": r.predicted_ms, "error": {t: r.error(t) for t in THREADS}} for r in runs],
            "within": sum(abs(r.error(t)) <= TOLERANCE for r in runs for t in THREADS),
            "count": len(runs) * len(THREADS),
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
