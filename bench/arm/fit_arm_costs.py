"""Refit the ARM latency model's figures from the instrument (qemu-user + llvm-mca), per ARM level.

    python bench/arm/fit_arm_costs.py --board rpi4 [--records R.json] [--from-records R.json]

For the board (``rpi4``: the ``arm`` level's figures, on its Cortex-A72; ``rpi5``: ``arm-dotprod``,
Cortex-A76; a board whose TOML names its own figures, ``[latency] arm_figures``: those, such as
``arm@cortex-a53`` for the Zero 2 W and ``arm@cortex-a53-armv7`` for rpi3's 32-bit build), a grid
of one-layer models (``GRID``: each NEON kernel over shapes that fill its tiles
well and badly), every zoo model (seeded weights) at int8 and at w1a1 (binary layers where the
selector's kernels take them; the first conv and the last linear stay int8), ``binarynet-wide``
and the MLPerf Tiny models, and every zoo and MLPerf Tiny model at fp32 (the MLPerf ones in their
float form, ``bench_arm_goals.float_model``), are estimated layer by layer (``edgeconv profile
--runner qemu --estimate``), and ``edgeconv.profile.arm_fit`` fits the per-layer overhead, the
kernels' ``ArmCost`` (the NEON GEMM, depthwise and XNOR kernels, int8 and fp32, and the fp32 fully
connected one) and the ops' ``ArmElementCost`` (int8 and fp32) to the estimated cycles. Printed:
the figures in the registry's form (``edgeconv/kernels/registry.py``, ``arm=`` and ``arm_element=``), the
board's ``layer_overhead_cycles`` (``targets/<board>.toml``), the per-layer fit error of each
figure set, and the held-out check: each model's summed cycles predicted by a fit over the other
models only.

``--records`` keeps the per-layer rows (JSON) so that ``--from-records`` refits without QEMU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "arm"))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from bench_arm_goals import export_models, shipped  # noqa: E402
from bench_latency_model import one_layer_graph  # noqa: E402

from edgeconv.kernels.isa import target_kernel_set  # noqa: E402
from edgeconv.profile.arm_fit import Row, fit, held_out_errors, rows_of  # noqa: E402
from edgeconv.profile.estimate import estimate_graph  # noqa: E402
from edgeconv.profile.model_layers import load_prepared  # noqa: E402
from edgeconv.quant.quantize_graph import quantize_graph  # noqa: E402
from edgeconv.targets import load_target  # noqa: E402
from edgeconv.toolchain import find_compiler  # noqa: E402

PRECISIONS = ("int8", "w1a1", "fp32")
QUANTIZED_PRECISIONS = ("int8", "fp32")  # a full-integer model as it is, and its float form

# (kernel, precision, kind, c_in, c_out, kernel size, input height = width, padding), as
# bench_latency_model.KERNEL_GRID: channel counts off the 16-channel blocks and 4-byte groups,
# windows of more than 9 taps and more than 256 input channels (the unfolding im2col), maps of
# 5 to 32 pixels.
GRID = [
    *[("ec_s8_conv2d_im2col", "int8", "conv", ci, co, k, hw, k // 2) for ci, co, k, hw in (
        (3, 16, 3, 32), (8, 24, 3, 16), (16, 32, 3, 16), (32, 32, 3, 8), (64, 64, 3, 14), (24, 40, 3, 10),
        (16, 32, 5, 12), (1, 32, 5, 20), (320, 64, 1, 7))],
    *[("ec_s8_conv2d_slidingwin", "int8", "conv", ci, co, 3, hw, 1) for ci, co, hw in (
        (1, 8, 28), (3, 16, 32), (8, 16, 14), (16, 32, 16), (32, 32, 8), (64, 64, 14))],
    *[("ec_s8_conv2d_1x1", "int8", "conv", ci, co, 1, hw, 0) for ci, co, hw in (
        (16, 32, 28), (32, 64, 14), (64, 64, 28), (128, 128, 7), (24, 144, 14), (144, 24, 14))],
    *[("ec_s8_dwconv2d_3x3", "int8", "dw", c, c, 3, hw, 1) for c, hw in (
        (16, 28), (32, 14), (64, 28), (128, 7), (24, 20), (40, 10), (96, 28))],
    *[("ec_s8_dwconv2d_generic", "int8", "dw", c, c, 5, hw, 2) for c, hw in ((16, 28), (32, 14), (64, 28), (24, 10))],
    *[("ec_s8_fully_connected", "int8", "fc", ci, co, 1, 1, 0) for ci, co in (
        (256, 64), (1024, 128), (3136, 64), (64, 10), (8, 128), (640, 128), (40, 100))],
    *[("ec_b1_conv2d_xnor", "w1a1", "conv", ci, co, 3, hw, 0) for ci, co, hw in (
        (32, 32, 16), (64, 64, 14), (128, 64, 9), (64, 128, 28), (32, 48, 7), (96, 64, 10), (256, 256, 5))],
    # fp32: channel counts off the 16-channel blocks and 4-lane groups, positions off the 1x1
    # kernel's 4-position tiles, stems of 1 and 3 channels, windows mostly in the padding
    *[("ec_f32_conv2d_1x1", "fp32", "conv", ci, co, 1, hw, 0) for ci, co, hw in (
        (16, 32, 28), (32, 64, 14), (64, 64, 7), (24, 144, 5), (144, 24, 14), (8, 10, 9))],
    *[("ec_f32_conv2d_im2col", "fp32", "conv", ci, co, k, hw, k // 2) for ci, co, k, hw in (
        (1, 16, 3, 28), (3, 32, 3, 32), (16, 24, 3, 14), (32, 32, 3, 8), (64, 64, 3, 4), (8, 40, 5, 10))],
    *[("ec_f32_dwconv2d", "fp32", "dw", c, c, k, hw, k // 2) for c, k, hw in (
        (16, 3, 28), (32, 3, 14), (64, 3, 7), (96, 3, 10), (24, 5, 12), (6, 3, 16))],
    *[("ec_f32_fully_connected", "fp32", "fc", ci, co, 1, 1, 0) for ci, co in (
        (256, 64), (1024, 10), (784, 10), (64, 12), (512, 128), (40, 3))],
]

# the kernel each precision's "pre" 1x1 layer runs on
PRE_KERNEL = {"int8": "ec_s8_conv2d_1x1", "w1a1": "ec_s8_conv2d_1x1", "fp32": "ec_f32_conv2d_1x1"}


def grid_rows(target, compiler) -> list:
    """Rows of the one-layer models of ``GRID`` (the 1x1 layer before each included: int8 before an
    int8 or binary layer, fp32 before an fp32 one)."""
    rng = np.random.default_rng(0)
    rows = []
    for variant, precision, kind, c_in, c_out, k, hw, pad in GRID:
        graph = one_layer_graph(kind, c_in, c_out, k, hw, pad, rng)
        x = rng.normal(size=(8,) + graph.tensors["x"].shape[1:]).astype(np.float32)
        pre = "fp32" if precision == "fp32" else "int8"
        quantized = quantize_graph(graph, x, {n.name: (pre if n.name == "pre" else precision) for n in graph.nodes})
        layer = quantized.node("layer")
        layer.algorithm, layer.precision = variant, precision
        for node in quantized.nodes:
            if node.op.WEIGHTED and node.algorithm is None:
                node.algorithm, node.precision = PRE_KERNEL[precision], pre
        estimate = estimate_graph(quantized, target, compiler, label=variant)
        rows += rows_of(estimate, quantized, target, "grid")
        print(f"grid {variant} {c_in}->{c_out} k{k} {hw}x{hw}", file=sys.stderr)
    return rows


def collect(board: str) -> list:
    target = load_target(board)
    compiler = find_compiler(target)
    rows = grid_rows(target, compiler)
    with tempfile.TemporaryDirectory(prefix="fit-arm-") as tmp:
        for model, path in export_models(Path(tmp), with_224=False).items():
            prepared = load_prepared(path)
            for precision in PRECISIONS if not prepared.is_quantized() else QUANTIZED_PRECISIONS:
                graph = shipped(target, prepared, precision)
                estimate = estimate_graph(graph, target, compiler, label=model)
                rows += rows_of(estimate, graph, target, f"{model} {precision}")
                print(f"{model} {precision}: {len(estimate.layers)} layers", file=sys.stderr)
    return rows


def _set_name(figure_set: tuple) -> str:
    return " ".join(figure_set[1:])


def figures_key(target) -> str:
    """The key the board's figures take in the registry's ``arm=`` and ``arm_element=`` dicts."""
    return target.latency.arm_figures or target_kernel_set(target).level


def report(rows: list, key: str) -> str:
    fitted = fit(rows)
    lines = [f"layer_overhead_cycles = {fitted.layer_overhead:.0f}", "", f"figures (registry form, key {key!r}):"]
    for figure_set in sorted(fitted.figures):
        chosen = [row for row in rows if row.figure_set == figure_set]
        errors = [fitted.predict(row) / row.cycles - 1.0 for row in chosen]
        worst = max(errors, key=abs)
        lines.append(f"  {_set_name(figure_set):<36} {key!r}: {fitted.cost(figure_set)!r}")
        lines.append(f"      {len(chosen)} layers, rms error {100 * (sum(e * e for e in errors) / len(errors)) ** 0.5:.0f}%, "
                     f"worst {100 * worst:+.0f}%")
    lines += ["", "held out (each model predicted by a fit over the others):"]
    for model, error in held_out_errors(rows).items():
        lines.append(f"  {model:<28} {100 * error:+6.1f}%")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="rpi4")
    parser.add_argument("--records", type=Path, help="write the per-layer rows here (JSON)")
    parser.add_argument("--from-records", type=Path, help="refit from rows written by --records")
    args = parser.parse_args()
    if args.from_records:
        rows = [Row(tuple(r["figure_set"]), r["terms"], r["cycles"], r["model"])
                for r in json.loads(args.from_records.read_text())]
    else:
        rows = collect(args.board)
    if args.records:
        args.records.write_text(json.dumps([r.__dict__ for r in rows]) + "\n")
    print(report(rows, figures_key(load_target(args.board))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
