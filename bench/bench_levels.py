"""Whole models at each x86 level: our C runtime against LiteRT+XNNPACK and LiteRT builtin.

Models:

- the three MLPerf Tiny int8 models of ``tests/data/mlperf_tiny`` (their own quantization kept);
- the zoo models (``edgeconv.zoo``, trained on the digits data set), int8, calibrated on digits;
- MobileNetV2 and ResNet-18 at 224x224 (``edgeconv.zoo.families``: seeded weights, BatchNorm
  statistics gathered on structured images), int8, calibrated on 16 structured images.

Levels (``kernels.isa``): this CPU's highest x86 level and, where that is an AVX-512 one, ``avx2``
too. For each level, with ``EDGECONV_X86_LEVEL`` forced, the model is compressed for ``host``
(``--emit tflite,c --threads 1``: the kernel choice and the prediction are the level's, for the
one thread everything is timed on) and built (a release
build). LiteRT runs at each level too: XNNPACK and ruy choose their kernels from CPUID, so below
the CPU's level they run in a child process whose CPUID reports that level (``masked_peers.py``;
refused with the reason where the CPU cannot make CPUID fault). Then every C build and the two
LiteRT interpreters of each level (single thread, on the ``.tflite``: the MLPerf file itself, else
the emitted one) are timed interleaved in the same run
(``common.py`` says how), and the latency model's prediction (``report.json``; +-15% is the host
predictor's goal) is set against the least disturbed C call (the minimum: on a shared machine the
median carries the load of other work). A profiling build (``-DEC_PROFILE``) of
each level then times every layer: the slowest layers are listed with their MACs per second.

    python bench/bench_levels.py [--models ic_resnet8_int8,mobilenetv2_224] [--levels avx2] [--slowest 5]

Prints markdown tables (with the CPU and the levels) and writes ``bench/results/levels.json``.
Exactness is not checked here: ``bench_mlperf.py``, ``edgeconv verify`` and the tests do that.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from common import (CRunnerTimer, Timing, bench_levels, forced_level, load_note, machine, measure,  # noqa: I001
                    peer_timers, write_results)
from masked_peers import MaskedTimer, MaskUnavailable

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ("ic_resnet8_int8", "kws_dscnn_int8", "ad_fc_autoencoder_int8")
FAMILIES = {"mobilenetv2_224": "mobilenetv2", "resnet18_224": "resnet18"}
PEERS = ("litert-xnnpack", "litert-builtin")
TIMED_SAMPLES = 4
CALIBRATION_224 = 16
TOLERANCE = 0.15


@dataclass
class Source:
    """A model to compress: its file, compress options and timing inputs (its own layout)."""

    path: Path
    options: dict
    x: np.ndarray
    tflite: Optional[Path] = None  # the peers' model when it is not the emitted one


@dataclass
class LevelRun:
    """One model at one x86 level."""

    level: str
    out: Path
    predicted_ms: float
    layers: list                      # report.json's layers (name, op, algorithm, macs, ...)
    timer: Optional[CRunnerTimer] = None
    time: Optional[Timing] = None
    peers: dict = field(default_factory=dict)  # LiteRT at the same level: runtime -> Timing
    per_layer_ms: dict = field(default_factory=dict)

    @property
    def prediction_error(self) -> Optional[float]:
        return None if self.time is None else self.predicted_ms / self.time.min_ms - 1.0


def mlperf_source(name: str, work: Path) -> Source:
    from edgeconv.runtimes import tflm

    path = ROOT / "tests" / "data" / "mlperf_tiny" / f"{name}.tflite"
    graph = tflm._subgraph(path)
    shape = tuple(int(d) for d in graph.Tensors(graph.Inputs(0)).ShapeAsNumpy()[1:])
    x = np.random.default_rng(0).integers(-128, 128, size=(TIMED_SAMPLES, *shape), dtype=np.int8)
    return Source(path, {}, x, tflite=path)


def zoo_source(name: str, work: Path) -> Source:
    import torch

    from edgeconv.zoo.training import digits_dataset, trained

    x_train, _, x_val, _ = digits_dataset()
    path = work / f"{name}.pt2"
    torch.export.save(torch.export.export(trained(name).eval(), (torch.from_numpy(x_val[:1]),)), str(path))
    np.savez(work / "digits.npz", x=x_train[:256])
    return Source(path, {"data": work / "digits.npz", "precisions": "int8"}, x_val[:TIMED_SAMPLES])


def family_source(name: str, work: Path) -> Source:
    from edgeconv.zoo.families import export_family, structured_images

    path = export_family(FAMILIES[name], work / f"{name}.pt2")
    np.savez(work / f"{name}-calibration.npz", x=structured_images(CALIBRATION_224, seed=1))
    return Source(path, {"data": work / f"{name}-calibration.npz", "precisions": "int8"},
                  structured_images(TIMED_SAMPLES, seed=2))


def source(name: str, work: Path) -> Source:
    from edgeconv.zoo.models import MODELS

    if name in MLPERF:
        return mlperf_source(name, work)
    if name in FAMILIES:
        return family_source(name, work)
    if name in MODELS:
        return zoo_source(name, work)
    raise SystemExit(f"unknown model {name!r}; known: {', '.join((*MLPERF, *MODELS, *FAMILIES))}")


def compress_at(src: Source, level: Optional[str], work: Path) -> LevelRun:
    from edgeconv import api

    out = work / f"out-{level}"
    with forced_level(level):
        report = api.compress(src.path, "host", emit="tflite,c", out=out, force=True, threads=1, **src.options)
        timer = CRunnerTimer(out / "c", work / f"build-{level}", src.x)
    return LevelRun(level or "", out, float(report["predicted_latency_ms"]), report["layers"], timer)


def profile_layers(run: LevelRun, x: np.ndarray, work: Path) -> dict:
    """{layer: median ms} from a profiling build of the same project at the same level."""
    from edgeconv.backends.c.build import build_host
    from edgeconv.runtimes.runner import LocalRunner

    with forced_level(run.level or None):
        binary, _ = build_host(run.out / "c", work / f"profile-{run.level}" / "edgeconv_run", profile=True)
    repeat = max(1, run.timer.repeat // 2)
    return LocalRunner().run(binary, x, repeat=repeat, timing=True).timing.get("per_layer_ms") or {}


def peers_at(level: Optional[str], tflite: Path, errors: dict) -> dict:
    """LiteRT's timers at x86 level ``level``: in this process at the CPU's own level, else in a
    child whose CPUID says ``level`` (``masked_peers.py``); one that cannot run is in ``errors``."""
    from edgeconv.kernels.isa import host_x86_levels

    if level is None or level == host_x86_levels()[-1]:
        found: dict = {}
        timers = {k: v for k, v in peer_timers(tflite, None, found).items() if k in PEERS}
        errors.update({k: v for k, v in found.items() if k in PEERS})
        return timers
    timers = {}
    for peer in PEERS:
        try:
            timers[peer] = MaskedTimer(tflite, peer, level)
        except MaskUnavailable as exc:
            errors[f"{peer} at {level}"] = str(exc)
    return timers


def bench_model(name: str, levels: list, work: Path) -> dict:
    src = source(name, work)
    runs = [compress_at(src, level, work) for level in (levels or [None])]
    errors: dict = {}
    tflite = src.tflite or runs[0].out / "model.tflite"
    peers = {run.level: peers_at(run.level or None, tflite, errors) for run in runs}
    timers = {f"c-{r.level}": r.timer for r in runs}
    timers.update({f"{peer}@{level}": t for level, found in peers.items() for peer, t in found.items()})
    try:
        times = measure(timers)
    finally:
        for found in peers.values():
            for timer in found.values():
                if isinstance(timer, MaskedTimer):
                    timer.close()
    for run in runs:
        run.time = times[f"c-{run.level}"]
        run.peers = {peer: times[f"{peer}@{run.level}"] for peer in peers[run.level]}
        run.per_layer_ms = profile_layers(run, src.x, work)
    return {"runs": runs, "errors": errors}


def _ratio(ours: Optional[Timing], theirs: Optional[Timing]) -> Optional[float]:
    return None if ours is None or theirs is None else ours.median_ms / theirs.median_ms


def _fmt(value: Optional[float], spec: str, none: str = "—") -> str:
    return none if value is None else format(value, spec)


def slowest_layers(run: LevelRun, count: int) -> list:
    """The ``count`` slowest layers: (name, op, kernel, ms, share of the layer sum, GMAC/s or None)."""
    report = {layer["name"]: layer for layer in run.layers}
    total = sum(run.per_layer_ms.values()) or 1.0
    rows = []
    for name, ms in sorted(run.per_layer_ms.items(), key=lambda item: -item[1])[:count]:
        layer = report.get(name, {})
        macs = layer.get("macs") or 0
        rows.append((name, layer.get("op", ""), layer.get("algorithm") or "—", ms, ms / total,
                     macs / (ms * 1e6) if macs and ms > 0 else None))
    return rows


def time_table(results: dict) -> str:
    lines = ["| model | level | ours ms | predicted ms | prediction error | LiteRT+XNNPACK ms | LiteRT builtin ms "
             "| ours/XNNPACK | ours/builtin |", "|" + "---|" * 9]
    for model, result in results.items():
        for run in result["runs"]:
            xnn, builtin = run.peers.get("litert-xnnpack"), run.peers.get("litert-builtin")
            lines.append(
                f"| {model} | {run.level or 'portable'} | {run.time.median_ms:.3f} | {run.predicted_ms:.3f} "
                f"| {_fmt(run.prediction_error and 100 * run.prediction_error, '+.0f')}% "
                f"| {_fmt(xnn and xnn.median_ms, '.3f')} | {_fmt(builtin and builtin.median_ms, '.3f')} "
                f"| {_fmt(_ratio(run.time, xnn), '.2f')}× | {_fmt(_ratio(run.time, builtin), '.2f')}× |")
    return "\n".join(lines)


def layers_table(results: dict, count: int) -> str:
    lines = ["| model | level | layer | op | kernel | ms | share | GMAC/s |", "|" + "---|" * 8]
    for model, result in results.items():
        for run in result["runs"]:
            for name, op, kernel, ms, share, rate in slowest_layers(run, count):
                lines.append(f"| {model} | {run.level or 'portable'} | {name} | {op} | {kernel} | {ms:.3f} "
                             f"| {100 * share:.0f}% | {_fmt(rate, '.1f')} |")
    return "\n".join(lines)


def to_json(results: dict, count: int) -> dict:
    out = {}
    for model, result in results.items():
        out[model] = {
            "errors": result["errors"],
            "levels": [{
                "level": run.level, "c_ms": run.time.median_ms, "c_min_ms": run.time.min_ms,
                "predicted_ms": run.predicted_ms, "prediction_error": run.prediction_error,
                "peers_ms": {k: t.median_ms for k, t in run.peers.items()},
                "ratios": {peer: _ratio(run.time, t) for peer, t in run.peers.items()},
                "slowest_layers": [dict(zip(("name", "op", "kernel", "ms", "share", "gmac_per_s"), row))
                                   for row in slowest_layers(run, count)],
            } for run in result["runs"]],
        }
    return out


def main(argv=None) -> int:
    from edgeconv.zoo.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join((*MLPERF, *MODELS, *FAMILIES)), help="comma-separated model names")
    parser.add_argument("--levels", default=None, help="comma-separated x86 levels (default: the CPU's, and avx2 under AVX-512)")
    parser.add_argument("--slowest", type=int, default=5, help="slowest layers listed per model and level")
    args = parser.parse_args(argv)
    levels = args.levels.split(",") if args.levels else bench_levels()
    info = machine(measure_clock=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="edgeconv-bench-levels-") as tmp:
        for name in args.models.split(","):
            work = Path(tmp) / name
            work.mkdir()
            results[name] = bench_model(name, levels, work)
            print(f"{name}: done", file=sys.stderr)
    print(f"Machine: {load_note(info)}; levels timed: {', '.join(levels) or 'portable'}\n")
    print("Time per inference (batch 1, single thread, median); ratio = ours / theirs (below 1 = we are faster); "
          "prediction error = predicted / least disturbed ours - 1:\n")
    print(time_table(results))
    scored = [run.prediction_error for r in results.values() for run in r["runs"] if run.prediction_error is not None]
    within = sum(abs(e) <= TOLERANCE for e in scored)
    print(f"\nhost predictions within +-{100 * TOLERANCE:.0f}%: {within}/{len(scored)}")
    print(f"\nSlowest layers (profiling build, per-layer medians):\n\n{layers_table(results, args.slowest)}")
    errors = [f"- {m}: {k}: {v}" for m, r in results.items() for k, v in r["errors"].items()]
    if errors:
        print("\nRuntimes that could not run a model:\n" + "\n".join(errors))
    path = write_results("levels", {"machine": info, "note": load_note(info), "levels": levels,
                                    "models": to_json(results, args.slowest)})
    print(f"\nwritten {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
