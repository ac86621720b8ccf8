"""Predicted versus measured end-to-end latency of the zoo models on a target.

The latency model predicts a model's time as the sum of its layers' times (measured table where
``edgeconv profile`` made one, else the analytical roofline). This script reports how well that
holds: for each zoo model, the prediction written in ``report.json`` by ``compress`` and the
median time the C runner ``edgeconv_run`` measures on the machine (``--runner local`` for
``host``, ``ssh://user@host`` for a board), the relative error, and the share of models within
+-15% (the goal of the host predictor: at least 80% of the models). When the runner reports
per-layer times it also compares the sum of the measured layers with the measured end-to-end
time: the error of "whole model = sum over layers" itself.

    python bench/bench_latency_model.py --target host --runner local
    python bench/bench_latency_model.py --target rpi4 --measured times.json   # {"resnet8": 3.2, ...}

With ``--measured`` the end-to-end times come from a JSON file instead of the runner.

``--profile`` first measures each model's own layers at the compress precision on this machine
(what ``edgeconv profile --model`` does, into a table in the work folder) and predicts from that
table: the host predictor's goal (within +-15% for 80% of the models) is for this case. Each of
``--rounds`` rounds (default 3) profiles the model and then compresses and measures it at once, so
a change of the machine's load between profiling and measuring hits both; the medians are
reported.

    python bench/bench_latency_model.py --target host --runner local --profile

``--kernels`` calibrates the analytical model's figures for the C kernels instead: it builds
one-layer models over a grid of shapes for every kernel variant, times the layer with the runner's
per-layer profile (``-DEC_PROFILE``) on this machine, and fits per variant
``cycles = cycles_per_mac * MACs * passes + cycles_per_output * outputs`` (non-negative least
squares of the relative error; ``passes`` = K*M for bit-serial). It prints the fit and its error per shape; the
figures in ``edgeconv/kernels/registry.py`` (``PortableCost``, ``SimdCost``) come from this mode.
``--kernels x86`` fits the x86 versions at every x86 level of ``--levels`` (default: each level
with x86 kernels that this CPU runs, forced in turn with ``EDGECONV_X86_LEVEL``), against the
peak figures of that level, and prints each kernel's ``x86={level: SimdCost(...)}`` entries.

    python bench/bench_latency_model.py --kernels portable
    python bench/bench_latency_model.py --kernels x86 [--levels avx2,avx512-vnni] [--only ec_s8_conv2d_slidingwin]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

TOLERANCE = 0.15


@dataclass
class Row:
    model: str
    predicted_ms: float
    source: str
    measured_ms: Optional[float]
    layer_sum_ms: Optional[float]  # sum of the runner's per-layer medians

    @property
    def error(self) -> Optional[float]:
        if self.measured_ms is None or self.measured_ms <= 0:
            return None
        return self.predicted_ms / self.measured_ms - 1.0


def export_zoo_model(name: str, workdir: Path) -> Path:
    """Train (or load) zoo model ``name`` and export it as ``workdir/<name>.pt2``."""
    import torch

    from edgeconv.zoo.training import digits_dataset, trained

    model = trained(name).eval()
    x_val = digits_dataset()[2]
    model_path = workdir / f"{name}.pt2"
    torch.export.save(torch.export.export(model, (torch.from_numpy(x_val[:1]),)), str(model_path))
    return model_path


def profile_model(model_path: Path, target: str, runner_spec: str, precisions: str, table: Path) -> None:
    """Measure the model's layers at ``precisions`` on the runner and merge them into ``table``."""
    from edgeconv.profile import profile_target
    from edgeconv.select.latency_table import merged_with_saved, save_table
    from edgeconv.targets import load_target
    from edgeconv.toolchain import find_compiler
    from edgeconv.verify.c_runners import make_runner

    board = load_target(target)
    measured, _ = profile_target(board, make_runner(runner_spec, board), find_compiler(board), model=model_path,
                                 precisions=tuple(precisions.split(",")))
    save_table(merged_with_saved(measured, table), table)


def compress_zoo_model(name: str, target: str, workdir: Path, precisions: str, table: Optional[str]) -> Path:
    """Export zoo model ``name`` and run ``compress`` for ``target``; return OUT."""
    from edgeconv import api
    from edgeconv.zoo.training import digits_dataset

    model_path = export_zoo_model(name, workdir)
    x_train, _, x_val, y_val = digits_dataset()
    calib = workdir / "calib.npz"
    np.savez(calib, x=x_train[:256])
    val = workdir / "val.npz"
    np.savez(val, x=x_val[:256], y=y_val[:256])
    out = workdir / f"{name}-{target}"
    api.compress(model_path, target, data=calib, val_data=val, precisions=precisions, emit="c",
                 out=out, force=True, latency_table=table)
    return out


def measure(out: Path, target: str, runner_spec: str) -> tuple:
    """(ms per sample, sum of the per-layer times) of OUT's C model on held-out digits.

    The runner is built by ``edgeconv build`` (the release build for the time per sample, the
    profiling build for the per-layer times) and timed as ``edgeconv profile`` times its graphs
    (:func:`edgeconv.profile.measure.timed_run`: the lowest median of several windows of calls,
    on the runner's monotonic clock), so measured and predicted times are of the same kind: the
    model call (``run()``), not the runner's file handling around it.
    """
    from edgeconv import api
    from edgeconv.profile.measure import timed_run
    from edgeconv.runtimes.runner import parse_runner
    from edgeconv.targets import load_target
    from edgeconv.zoo.training import digits_dataset

    board = load_target(target)
    x = digits_dataset()[2][:8]
    binary = out / "build" / board.name / "edgeconv_run"
    api.build(out, target, profile=True)
    per_layer = timed_run(parse_runner(runner_spec, board), binary, x).timing.get("per_layer_ms") or {}
    api.build(out, target)
    result = timed_run(parse_runner(runner_spec, board), binary, x)
    return float(result.timing["median_ms"]), (float(sum(per_layer.values())) if per_layer else None)


def bench(models: list, target: str, runner: str, measured_file: Optional[Path], precisions: str,
          table: Optional[str], profile: bool = False, rounds: int = 1) -> list:
    """One row per model. With ``profile``, each round profiles the model into a fresh table, then
    compresses and measures it right away, so prediction and measurement see the same machine
    state; the row holds the medians over ``rounds`` rounds."""
    measured = json.loads(measured_file.read_text()) if measured_file else None
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeconv-bench-") as tmp:
        tmp = Path(tmp)
        for name in models:
            samples = []
            for round_index in range(rounds if profile else 1):
                if profile:
                    table = str(tmp / f"{target}-{name}-{round_index}-table.json")
                    profile_model(export_zoo_model(name, tmp), target, runner, precisions, Path(table))
                out = compress_zoo_model(name, target, tmp, precisions, table)
                report = json.loads((out / "report.json").read_text())
                if measured is not None:
                    ms, layer_sum = measured.get(name), None
                else:
                    ms, layer_sum = measure(out, target, runner)
                samples.append((float(report["predicted_latency_ms"]), ms, layer_sum))
            rows.append(Row(name, _median(s[0] for s in samples), report["latency_source"],
                            _median(s[1] for s in samples), _median(s[2] for s in samples)))
    return rows


def _median(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


# ---- kernel calibration ---------------------------------------------------------------------

# (variant, precision, kind, c_in, c_out, kernel, hw, pad): kind "conv", "dw" (depthwise), "fc" or
# "up" (a stride-2 transposed convolution: hw is its input's size).
KERNEL_GRID = [
    *[("ec_s8_conv2d_slidingwin", "int8", "conv", ci, co, 3, hw, 1) for ci, co, hw in ((8, 16, 28), (16, 32, 16), (32, 32, 28), (64, 64, 14))],
    *[("ec_s8_conv2d_im2col", "int8", "conv", ci, co, 3, hw, 1) for ci, co, hw in ((8, 16, 28), (16, 32, 16), (32, 32, 28), (64, 64, 14))],
    *[("ec_s8_conv2d_1x1", "int8", "conv", ci, co, 1, hw, 0) for ci, co, hw in ((16, 32, 28), (32, 64, 14), (64, 64, 28), (128, 128, 7))],
    # feature maps of 224x224 networks, larger than the caches: MobileNetV2's expansions and projections, ResNet-18's first stage
    ("ec_s8_conv2d_1x1", "int8", "conv", 16, 96, 1, 112, 0),
    ("ec_s8_conv2d_1x1", "int8", "conv", 24, 144, 1, 56, 0),
    ("ec_s8_conv2d_1x1", "int8", "conv", 144, 24, 1, 56, 0),
    ("ec_s8_conv2d_im2col", "int8", "conv", 64, 64, 3, 56, 1),
    # ResNet-18-224's 3x3 stages for the sliding-window kernel (the selector weighs it against im2col there)
    *[("ec_s8_conv2d_slidingwin", "int8", "conv", c, c, 3, hw, 1) for c, hw in ((64, 56), (128, 28), (256, 14), (512, 7))],
    *[("ec_s8_dwconv2d_3x3", "int8", "dw", c, c, 3, hw, 1) for c, hw in ((16, 28), (32, 14), (64, 28), (128, 7), (96, 112), (144, 56))],
    *[("ec_s8_dwconv2d_generic", "int8", "dw", c, c, 5, hw, 2) for c, hw in ((16, 28), (32, 14), (64, 28), (128, 7))],
    *[("ec_s8_fully_connected", "int8", "fc", ci, co, 1, 1, 0) for ci, co in ((256, 64), (1024, 128), (3136, 64), (64, 10))],
    *[("ec_f32_conv2d_direct", "fp32", "conv", ci, co, k, hw, k // 2) for ci, co, k, hw in ((8, 16, 3, 28), (32, 32, 3, 16), (64, 64, 1, 14), (16, 32, 3, 14))],
    *[("ec_f32_conv2d_direct", "fp32", "dw", c, c, 3, hw, 1) for c, hw in ((32, 14), (64, 28))],
    *[("ec_f32_fully_connected", "fp32", "fc", ci, co, 1, 1, 0) for ci, co in ((256, 64), (1024, 128), (3136, 64))],
    *[("ec_f32_conv2d_1x1", "fp32", "conv", ci, co, 1, hw, 0) for ci, co, hw in ((16, 32, 28), (32, 64, 14), (64, 64, 28), (128, 128, 7), (16, 96, 112))],
    *[("ec_f32_conv2d_im2col", "fp32", "conv", ci, co, 3, hw, 1) for ci, co, hw in ((3, 32, 56), (16, 32, 16), (32, 32, 28), (64, 64, 14))],
    *[("ec_f32_dwconv2d", "fp32", "dw", c, c, 3, hw, 1) for c, hw in ((16, 28), (32, 14), (64, 28), (128, 7), (96, 112))],
    *[("ec_b1_conv2d_xnor", "w1a1", "conv", ci, co, 3, hw, 0) for ci, co, hw in ((32, 32, 16), (64, 64, 14), (128, 64, 9), (64, 128, 28))],
    *[("ec_s8_conv2d_bitserial", p, "conv", ci, co, 3, hw, 1) for p in ("w2a2", "w4a4") for ci, co, hw in ((16, 32, 16), (64, 64, 14))],
    *[(v, p, "up", ci, co, k, hw, pad) for v, p in (("ec_s8_conv_transpose2d", "int8"), ("ec_f32_conv_transpose2d", "fp32"))
      for ci, co, k, hw, pad in ((16, 8, 4, 14, 1), (32, 16, 2, 14, 0), (64, 32, 4, 7, 1), (8, 8, 3, 28, 1))],
]


def one_layer_graph(kind: str, c_in: int, c_out: int, k: int, hw: int, pad: int, rng):
    """``x -> pre (1x1 conv, or nothing for fc) -> layer``: the timed layer reads an activation
    that a quantized layer produced (the binary kernels need a binarized input)."""
    from edgeconv.ir import Graph, Node, Tensor, verify
    from edgeconv.ir.ops import Conv, ConvTranspose, Linear

    g = Graph(name="one_layer")
    x_shape = (1, c_in) if kind == "fc" else (1, c_in, hw, hw)
    g.add_tensor(Tensor("x", x_shape))
    g.inputs = ["x"]

    def const(name, shape, scale):
        g.add_tensor(Tensor(name, shape, data=(scale * rng.normal(size=shape)).astype(np.float32)))
        return name

    source = "x"
    if kind != "fc":
        g.add_tensor(Tensor("h", x_shape))
        g.add_node(Node("pre", Conv(pads=(0,) * 4), ["x", const("wp", (c_in, c_in, 1, 1), 0.3), const("bp", (c_in,), 0.1)], "h"))
        source = "h"
    groups = c_in if kind == "dw" else 1
    w_shape = (c_out, c_in) if kind == "fc" else (c_out, c_in // groups, k, k)
    if kind == "fc":
        op, y_shape = Linear(), (1, c_out)
    elif kind == "up":
        out = (hw - 1) * 2 + k - 2 * pad
        op, y_shape = ConvTranspose(stride=(2, 2), pads=(pad,) * 4), (1, c_out, out, out)
    else:
        out = hw + 2 * pad - k + 1
        op, y_shape = Conv(pads=(pad,) * 4, groups=groups), (1, c_out, out, out)
    g.add_tensor(Tensor("y", y_shape))
    g.add_node(Node("layer", op, [source, const("w", w_shape, 0.2), const("b", (c_out,), 0.1)], "y"))
    g.outputs = ["y"]
    return verify(g)


def isa_cflags(isa: str) -> str:
    """CFLAGS of the kernel calibration build: the portable kernels as the compiler optimizes them
    for this CPU, or the x86 kernels with the flags ``edgeconv build`` uses here (at the level
    ``EDGECONV_X86_LEVEL`` forces, if set)."""
    from edgeconv.kernels.isa import host_kernel_set

    return "-O2 -march=native" if isa == "portable" else " ".join(("-O2",) + host_kernel_set().flags)


def time_layer(case, workdir: Path, rng, isa: str, repeat: int = 30) -> tuple:
    """(graph, node, measured ms of the layer) for one grid case, built for this machine."""
    import subprocess

    from edgeconv.backends.c import generate
    from edgeconv.quant.quantize_graph import quantize_graph

    variant, precision, kind, c_in, c_out, k, hw, pad = case
    graph = one_layer_graph(kind, c_in, c_out, k, hw, pad, rng)
    x = rng.normal(size=(8,) + graph.tensors["x"].shape[1:]).astype(np.float32)
    precisions = {n.name: ("int8" if n.name == "pre" else precision) for n in graph.nodes}
    q = quantize_graph(graph, x, precisions) if precision != "fp32" else graph
    node = q.node("layer")
    node.algorithm = variant
    node.precision = precision
    c_dir = workdir / "c"
    generate(q, c_dir)
    subprocess.run(["make", "-s", "-C", str(c_dir), f"ISA={isa}", f"CFLAGS={isa_cflags(isa)} -DEC_PROFILE"],
                   check=True, capture_output=True)
    np.save(workdir / "in.npy", x[:2])
    per_call_ms, shares = cpu_profile(c_dir / "edgeconv_run", workdir, samples=2, repeat=repeat)
    return q, node, per_call_ms * shares[node.name] / max(sum(shares.values()), 1e-12)


def _child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_profile(binary: Path, workdir: Path, samples: int, repeat: int) -> tuple:
    """(CPU ms of one model call, {layer: share of the call}), robust to a loaded machine.

    Wall-clock times are inflated when other processes share the cores; CPU time is not. The
    runner is run on ``workdir/in.npy`` with 1 and with ``repeat`` repetitions: the difference of
    their CPU times, per sample, is one model call without the start-up. A layer's share of the
    call is its median (wall-clock) time in the runner's per-layer profile over the median call.
    """
    import subprocess

    def run(n: int) -> tuple:
        before = _child_cpu_seconds()
        subprocess.run([str(binary), "--repeat", str(n), "--timing", str(workdir / "t.json"),
                        str(workdir / "in.npy"), str(workdir / "out.npy")], check=True)
        return _child_cpu_seconds() - before, json.loads((workdir / "t.json").read_text())

    base, _ = run(1)
    total, timing = run(repeat)
    per_call_ms = 1e3 * max(total - base, 0.0) / ((repeat - 1) * samples)
    median = max(float(timing["median_ms"]), 1e-12)
    return per_call_ms, {layer: ms / median for layer, ms in (timing.get("per_layer_ms") or {}).items()}


def calibrate_kernels(isa: str, only: Optional[set] = None) -> str:
    """The fit of every kernel of the grid with a version in ``isa`` (those named in ``only`` if
    given), as text."""
    from scipy.optimize import nnls

    from edgeconv.errors import UserError
    from edgeconv.kernels.geometry import geometry
    from edgeconv.kernels.registry import isas_of, kernel
    from edgeconv.quant.precision import parse_precision
    from edgeconv.select.candidates import popcount_passes
    from edgeconv.targets import load_target

    from edgeconv.kernels.isa import host_kernel_set

    host = load_target("host")
    level = host_kernel_set().level if isa == "x86" else "portable"
    within = host_kernel_set().features if isa == "x86" else None
    rng = np.random.default_rng(0)
    samples: dict = {}
    for case in KERNEL_GRID:
        if isa not in isas_of(case[0]) or (only and case[0] not in only):
            continue
        with tempfile.TemporaryDirectory(prefix="edgeconv-kernel-") as tmp:
            try:
                graph, node, ms = time_layer(case, Path(tmp), rng, isa)
            except UserError as err:
                print(f"skipped {case}: {err}", file=sys.stderr)
                continue
        geo = geometry(graph, node)
        passes = popcount_passes(parse_precision(case[1]), kernel(case[0]))
        cycles = ms * 1e-3 * host.cpu.clock_ghz * 1e9 - host.latency.layer_overhead_cycles
        samples.setdefault(case[0], []).append((case, geo.macs * passes, geo.out_numel, cycles, ms))
    lines = [f"host: {host.cpu.model}, {host.cpu.clock_ghz:.2f} GHz, {isa} kernels at level {level}; "
             "cycles = a * MACs * passes + b * outputs"]
    for name, rows in samples.items():
        # relative least squares: each shape's cycles weigh by their inverse, so small and large
        # layers are fitted to the same relative error
        target = np.array([max(r[3], 1.0) for r in rows])
        a_matrix = np.array([[r[1], r[2]] for r in rows], dtype=np.float64) / target[:, None]
        (a, b), _ = nnls(a_matrix, np.ones(len(rows)))
        peak = host.peak(kernel(name).cost.peak, within).mac_per_cycle
        share = 1 / (a * peak) if a else float("inf")
        lines.append(f"{name:<26} cycles_per_mac={a:.3f} cycles_per_output={b:.1f} (share of the {peak:g} MAC/cycle peak: {share:.3f})")
        if isa == "x86" and a > 0:
            lines.append(f'    registry entry: "{level}": SimdCost({share:.3g}, {b:.2g}, True)')
        elif isa == "x86":
            lines.append("    no registry entry: the grid does not separate the MAC term from the per-output term")
        for case, macs, outs, cycles, ms in rows:
            fit_ms = (a * macs + b * outs + host.latency.layer_overhead_cycles) / (host.cpu.clock_ghz * 1e6)
            lines.append(f"    {str(case[1:]):<40} measured {ms:8.4f} ms  fit {fit_ms:8.4f} ms  ({100 * (fit_ms / ms - 1):+.0f}%)")
    return "\n".join(lines)


def x86_kernel_levels() -> list:
    """The x86 levels this CPU runs whose kernel set is the x86 one."""
    from edgeconv.kernels.isa import host_x86_levels, x86_kernel_set

    return [level for level in host_x86_levels() if x86_kernel_set(level).isa == "x86"]


def format_rows(rows: list) -> str:
    lines = [f"{'model':<14}{'predicted ms':>14}{'measured ms':>13}{'error':>9}{'layer sum ms':>14}  source"]
    for r in rows:
        measured = f"{r.measured_ms:13.3f}" if r.measured_ms is not None else f"{'-':>13}"
        error = f"{100 * r.error:+8.1f}%" if r.error is not None else f"{'-':>9}"
        layer_sum = f"{r.layer_sum_ms:14.3f}" if r.layer_sum_ms is not None else f"{'-':>14}"
        lines.append(f"{r.model:<14}{r.predicted_ms:14.3f}{measured}{error}{layer_sum}  {r.source}")
    scored = [r for r in rows if r.error is not None]
    if scored:
        within = sum(abs(r.error) <= TOLERANCE for r in scored)
        lines.append(f"within +-{100 * TOLERANCE:.0f}%: {within}/{len(scored)} models ({100 * within / len(scored):.0f}%; goal >= 80%)")
    return "\n".join(lines)


def main(argv=None) -> int:
    from edgeconv.zoo.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="host")
    parser.add_argument("--runner", default="local", help="local, qemu (no real timings) or ssh://user@host[:port]")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo model names")
    parser.add_argument("--precisions", default="int8", help="uniform precision (or set) given to compress")
    parser.add_argument("--latency-table", default=None, help="measured table (default: the user's cache)")
    parser.add_argument("--profile", action="store_true",
                        help="measure each model's layers on the runner first and predict from that table")
    parser.add_argument("--rounds", type=int, default=3,
                        help="with --profile: profile-then-measure rounds per model (medians reported)")
    parser.add_argument("--measured", type=Path, default=None, help="JSON {model: measured end-to-end ms}")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--kernels", choices=("portable", "x86"), default=None,
                        help="calibrate the cost figures of the portable or x86 kernels on this machine")
    parser.add_argument("--levels", default=None,
                        help="with --kernels x86: the x86 levels to fit (default: each one with x86 kernels this CPU runs)")
    parser.add_argument("--only", default=None, help="with --kernels: comma-separated kernel names to fit (default: all)")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    if args.kernels == "x86":
        from common import forced_level

        for level in (args.levels.split(",") if args.levels else x86_kernel_levels()):
            with forced_level(level):
                print(calibrate_kernels("x86", only), flush=True)
        return 0
    if args.kernels:
        print(calibrate_kernels(args.kernels, only))
        return 0
    if args.runner == "qemu" and args.measured is None:
        parser.error("qemu does not measure real latency: use local, ssh://..., or --measured")
    rows = bench(args.models.split(","), args.target, args.runner, args.measured, args.precisions,
                 args.latency_table, profile=args.profile, rounds=args.rounds)
    if args.json:
        print(json.dumps([{**r.__dict__, "error": r.error} for r in rows], indent=1))
    else:
        print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
