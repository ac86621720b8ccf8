"""Benchmark: float32 networks in edgeconv's generated C against LiteRT (XNNPACK and builtin
kernels), single thread, same run (bench/README.md says how each runtime is timed).

    python bench/bench_fp32.py [--models mobilenetv2,resnet18] [--levels avx2,avx512-vnni]

Each model is a family of ``edgeconv.zoo.families`` at 224x224 with seeded weights, converted and
prepared (BatchNorm folded) as ``compress`` does, written as C and as a float .tflite. Before
timing, the C runner's output on one input is checked against TFLite Micro's, bit for bit (the
float kernels keep TFLite's summation order). Our C is built at each x86 level of ``--levels``
(default: this CPU's own and AVX2), so the figure holds for machines without AVX-512 too.
The goal for MobileNetV2-224: ours/XNNPACK <= 1.5x.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (CRunnerTimer, _ms, _x, bench_levels, forced_level, load_note, machine, measure,  # noqa: E402,I001
                    peer_timers, write_results)

MODELS = ["mobilenetv2"]


def float_graph(name: str):
    from edgeconv.frontend.torch_export import convert_module
    from edgeconv.passes.pipeline import prepare
    from edgeconv.zoo.families import INPUT_SHAPE_224, family_model

    return prepare(convert_module(family_model(name), INPUT_SHAPE_224, name, name))


def check_bit_exact(graph, work: Path, x: np.ndarray) -> None:
    """The C runner's output equals TFLite Micro's for ``x`` (one sample), bit for bit."""
    from edgeconv.backends.c.build import build_host
    from edgeconv.backends.tflite import to_channels_last
    from edgeconv.runtimes import tflm
    from edgeconv.runtimes.runner import LocalRunner

    binary, _ = build_host(work / "c", work / "check_run", profile=False)
    ours = np.asarray(LocalRunner().run(binary, x).outputs, dtype=np.float32)
    micro = np.asarray(tflm.run(work / "model.tflite", to_channels_last(x)))
    if not np.array_equal(ours.view(np.uint32), micro.reshape(ours.shape).view(np.uint32)):
        raise SystemExit(f"{work.name}: the C output differs from TFLite Micro's; not timing it")


def bench_model(name: str, levels: list, work: Path) -> list:
    from edgeconv.backends.c import generate
    from edgeconv.backends.tflite import write_tflite

    graph = float_graph(name)
    out = work / name
    generate(graph, out / "c")
    write_tflite(graph, out / "model.tflite")
    x = np.random.default_rng(0).uniform(0.0, 1.0, size=(1, *graph.tensors[graph.inputs[0]].shape[1:])).astype(np.float32)
    rows = []
    errors: dict = {}
    peers = peer_timers(out / "model.tflite", None, errors)
    peers.pop("tflm", None)  # seconds per inference at 224x224: checked above, not timed
    for level in levels:
        with forced_level(level):
            check_bit_exact(graph, out, x)
            timers = {"c": CRunnerTimer(out / "c", work / f"{name}-{level}-build", x), **peers}
            rows.append((name, level, measure(timers)))
    return rows


def table(rows: list) -> str:
    header = "| model | our kernels | ours ms | LiteRT+XNNPACK ms | LiteRT builtin ms | ours/XNNPACK | ours/builtin |"
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for name, level, t in rows:
        c, xnn, builtin = t["c"], t.get("litert-xnnpack"), t.get("litert-builtin")
        lines.append(f"| {name} fp32 | {level or 'as built'} | {_ms(c)} | {_ms(xnn)} | {_ms(builtin)} "
                     f"| {_x(c.median_ms / xnn.median_ms if xnn else None)} "
                     f"| {_x(c.median_ms / builtin.median_ms if builtin else None)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--levels", default=None, help="x86 levels to build our C at (default: the CPU's and avx2)")
    args = parser.parse_args()
    info = machine()
    levels = args.levels.split(",") if args.levels else (bench_levels() or [None])
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeconv-bench-fp32-") as tmp:
        for name in args.models.split(","):
            rows += bench_model(name, levels, Path(tmp))
    print(load_note(info))
    print(table(rows))
    path = write_results("fp32", {"machine": info, "note": load_note(info), "rows": [
        {"model": name, "level": level, **{k: v.median_ms for k, v in t.items()}} for name, level, t in rows]})
    print(f"written {path}")


if __name__ == "__main__":
    main()
