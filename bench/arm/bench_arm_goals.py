"""Benchmark: the ARM goals, estimated for every bundled ARM board (qemu-user + llvm-mca).

    python bench/arm/bench_arm_goals.py [--boards rpi4,rpi5] [--no-224] [--json bench/results/arm_goals.json]

No board is timed: each model is built for the board, run once under qemu-user with edgeconv's
counting plugin and costed per basic block by llvm-mca for the board's core
(``edgeconv profile --runner qemu --estimate``; ``edgeconv.profile.estimate`` documents the
model). Printed per board, single thread, int8 unless said otherwise:

- ``gemm eff``: int8 1x1 and im2col convolutions of MLPerf Tiny IC ResNet-8 and of MobileNetV2 at
  224x224 (seeded weights): their MACs over their estimated cycles, as a fraction of the board's
  int8 peak (``[[peak]]`` in its TOML: 8 MACs/cycle on the A53/A57/A72 with SMLAL, 32 on the
  A76/A78 with SDOT); the goal is >= 50%. ``dw eff``: the same for the depthwise layers (goal >= 30%).
- ``gemm MAC/c``: those layers' MACs per cycle, to compare boards (goal: rpi5 >= 2x rpi4).
- ``xnor/int8``: MACs per cycle of the binary convolutions of ``binarynet-wide`` at w1a1 over the
  same convolutions at int8 (goal >= 6x on the A72).
- ``model vs est``: the analytical latency model's prediction (single thread) against the estimate
  for each zoo model (seeded weights) at int8 and at w1a1 (XNOR layers where the selector's kernels
  take them, the first conv and last linear at int8), the three MLPerf Tiny models and
  MobileNetV2-224 at int8; the worst error and how many are within +-15% (the goal: all).
  ``fp32 vs est``: the same for the zoo models and the MLPerf Tiny models (their float form,
  ``float_model``) at fp32, and for the zoo models in a plan mixing fp32 and int8 (``MIXED``: the
  first weighted layer at fp32, held out of the fit). The ARM figures behind the prediction are
  fitted by ``bench/arm/fit_arm_costs.py``.

One inference per model; MobileNetV2-224 takes about half a minute per board under the plugin.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from bench_binary_vs_int8 import binarynet_wide  # noqa: E402

from edgeconv.ir import Graph, verify  # noqa: E402
from edgeconv.profile.estimate import estimate_graph  # noqa: E402
from edgeconv.profile.cases import calibration_inputs  # noqa: E402
from edgeconv.profile.model_layers import load_prepared, model_graphs  # noqa: E402
from edgeconv.quant.precision import uniform_precisions  # noqa: E402
from edgeconv.quant.quantize_graph import quantize_graph  # noqa: E402
from edgeconv.select.latency import fastest_algorithm, predict_graph_ms  # noqa: E402
from edgeconv.targets import list_targets, load_target  # noqa: E402
from edgeconv.toolchain import find_compiler  # noqa: E402
from edgeconv.zoo import models, training  # noqa: E402
from edgeconv.zoo.families import export_family  # noqa: E402

MLPERF = REPO / "tests" / "data" / "mlperf_tiny"
GEMM = ("ec_s8_conv2d_1x1", "ec_s8_conv2d_im2col")
DEPTHWISE_PREFIX = "ec_s8_dwconv2d"
XNOR = "ec_b1_conv2d_xnor"
TOLERANCE = 0.15
MIXED = "fp32+int8"  # the first weighted layer at fp32, the others at int8 (mixed_plan)


def arm_boards() -> list:
    return [t.name for t in list_targets() if not t.is_host and t.cpu.llvm_mca_cpu]


def export_models(work: Path, with_224: bool) -> dict:
    """name -> model file: the zoo's digit models (seeded), the MLPerf Tiny .tflite files,
    binarynet-wide, and MobileNetV2 at 224x224."""
    x_train, _, _, _ = training.digits_dataset()
    example = (torch.from_numpy(x_train[:1]),)
    files = {}
    for name in models.MODELS:
        torch.manual_seed(0)
        files[name] = work / f"{name}.pt2"
        torch.export.save(torch.export.export(models.MODELS[name]().eval(), example), files[name])
    files["binarynet-wide"] = work / "binarynet-wide.pt2"
    torch.export.save(torch.export.export(binarynet_wide(), example), files["binarynet-wide"])
    for tflite in sorted(MLPERF.glob("*.tflite")):
        files[tflite.stem.replace("_int8", "")] = tflite
    if with_224:
        files["mobilenetv2-224"] = export_family("mobilenetv2", work / "mobilenetv2-224.pt2")
    return files


def float_model(graph: Graph) -> Graph:
    """A full-integer model as float32: every quantized constant dequantized (``scale * (q -
    zero_point)``, per channel where it is), every activation float32 without quantization. The
    MLPerf Tiny models are published at int8 only; this is their float form at the same shapes."""
    floats = graph.copy()
    for tensor in floats.tensors.values():
        quant = tensor.quant
        if quant is None:
            continue
        values = None
        if tensor.data is not None:
            shape = quant.broadcast_shape(len(tensor.shape))
            codes = tensor.data.astype(np.float64) - quant.zero_point.reshape(shape)
            values = (quant.scale.reshape(shape) * codes).astype(np.float32)
        tensor.dtype, tensor.quant, tensor.data = "float32", None, values
    for node in floats.nodes:
        node.precision = node.algorithm = None
    return verify(floats)


def mixed_plan(target, graph: Graph) -> Graph:
    """A plan mixing fp32 and int8 as selection makes them (``MIXED``): the first weighted layer at
    fp32, the others at int8, with the Quantize node between them; each weighted layer on the
    kernel the latency model ranks fastest."""
    chosen = uniform_precisions(graph, "int8")
    chosen[next(node.name for node in graph.nodes if node.op.WEIGHTED)] = "fp32"
    plan = quantize_graph(graph, calibration_inputs(graph), chosen)
    for node in plan.nodes:
        if node.op.WEIGHTED:
            node.algorithm = fastest_algorithm(target, plan, node, node.precision)
    return plan


def shipped(target, graph: Graph, precision: str = "int8") -> Graph:
    """The graph compress ships for a uniform precision: a quantized .tflite as it is, on the
    kernels the latency model ranks fastest (at fp32: its float form, ``float_model``); otherwise
    quantized as ``profile --model`` does."""
    if graph.is_quantized() and precision == "fp32":
        graph = float_model(graph)
    if precision == MIXED:
        return mixed_plan(target, graph)
    if graph.is_quantized():
        graph = graph.copy()
        for node in graph.nodes:
            if node.op.WEIGHTED:
                node.algorithm = fastest_algorithm(target, graph, node, node.precision)
        return graph
    _, make_graph = next(iter(model_graphs(target, graph, (precision,))))
    return make_graph()


def efficiency(layers: list, target, chosen) -> dict:
    """Sum of MACs over sum of estimated cycles of the layers ``chosen`` keeps, and that over the peak."""
    picked = [layer for layer in layers if layer.algorithm and chosen(layer.algorithm)]
    macs = sum(layer.macs for layer in picked)
    cycles = sum(layer.est_cycles for layer in picked)
    if not picked or not cycles:
        return {"layers": 0, "macs_per_cycle": None, "efficiency": None}
    peak = target.peak(picked[0].peak_class).mac_per_cycle
    return {"layers": len(picked), "macs_per_cycle": macs / cycles, "efficiency": macs / cycles / peak,
            "worst_layer": min(layer.efficiency for layer in picked)}


def model_runs(files: dict) -> list:
    """(model, precision) of the model-vs-estimate rows: every model at int8, the zoo's at w1a1 too,
    the zoo's and the MLPerf Tiny models at fp32, the zoo's in a mixed fp32 and int8 plan."""
    runs = []
    for model in files:
        if model == "binarynet-wide":
            continue
        runs.append((model, "int8"))
        if model in models.MODELS:
            runs += [(model, "w1a1"), (model, MIXED)]
        if model != "mobilenetv2-224":
            runs.append((model, "fp32"))
    return runs


def has_fp32(label: str) -> bool:
    """Whether a model-vs-estimate row runs fp32 layers (``fp32`` or ``MIXED``)."""
    return label.split(" ")[-1] in ("fp32", MIXED)


def board_figures(name: str, files: dict, prepared: dict) -> dict:
    target = load_target(name)
    compiler = find_compiler(target)
    figures = {"board": name, "cpu": target.cpu.model, "llvm_cpu": target.cpu.llvm_mca_cpu, "models": {}}
    gemm_layers, dw_layers = [], []
    for model, precision in model_runs(files):
        start = time.monotonic()
        graph = shipped(target, prepared[model], precision)
        estimate = estimate_graph(graph, target, compiler, label=model)
        predicted = predict_graph_ms(target, graph, threads=1).ms
        est_ms = estimate.total()["est_ms"]
        label = model if precision == "int8" else f"{model} {precision}"
        figures["models"][label] = {"est_ms": est_ms, "predicted_ms": predicted, "error": predicted / est_ms - 1,
                                    "instructions": estimate.total()["instructions"],
                                    "seconds": round(time.monotonic() - start, 1)}
        if model in ("ic_resnet8", "mobilenetv2-224") and precision == "int8":
            gemm_layers += estimate.layers
            dw_layers += estimate.layers
    figures["gemm"] = efficiency(gemm_layers, target, lambda a: a in GEMM)
    figures["depthwise"] = efficiency(dw_layers, target, lambda a: a.startswith(DEPTHWISE_PREFIX))
    wide = prepared["binarynet-wide"]
    binary = estimate_graph(shipped(target, wide, "w1a1"), target, compiler, label="binarynet-wide w1a1")
    int8 = estimate_graph(shipped(target, wide, "int8"), target, compiler, label="binarynet-wide int8")
    xnor_layers = {layer.name for layer in binary.layers if layer.algorithm == XNOR}
    xnor = efficiency([l for l in binary.layers if l.name in xnor_layers], target, lambda a: True)
    same = efficiency([l for l in int8.layers if l.name in xnor_layers], target, lambda a: True)
    figures["xnor"] = {"xnor_macs_per_cycle": xnor["macs_per_cycle"], "int8_macs_per_cycle": same["macs_per_cycle"],
                       "ratio": (xnor["macs_per_cycle"] / same["macs_per_cycle"]) if xnor["macs_per_cycle"] else None}
    return figures


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _num(value, digits=2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _errors(errors: list) -> str:
    """The worst error and how many are within the tolerance, as two table cells."""
    if not errors:
        return "- | -"
    worst = max(errors, key=abs)
    return f"{worst:+.0%} | {sum(abs(e) <= TOLERANCE for e in errors)}/{len(errors)}"


def print_table(results: list) -> None:
    print("| board | llvm-mca cpu | gemm eff | dw eff | gemm MAC/c | xnor/int8 | model vs est (worst) | within +-15% "
          "| fp32 vs est (worst) | within +-15% |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        quantized = [m["error"] for label, m in r["models"].items() if not has_fp32(label)]
        floats = [m["error"] for label, m in r["models"].items() if has_fp32(label)]
        print(f"| {r['board']} | {r['llvm_cpu']} | {_pct(r['gemm']['efficiency'])} | {_pct(r['depthwise']['efficiency'])} "
              f"| {_num(r['gemm']['macs_per_cycle'])} | {_num(r['xnor']['ratio'])}x | {_errors(quantized)} | {_errors(floats)} |")
    by_board = {r["board"]: r for r in results}
    if "rpi4" in by_board and "rpi5" in by_board and by_board["rpi4"]["gemm"]["macs_per_cycle"]:
        ratio = by_board["rpi5"]["gemm"]["macs_per_cycle"] / by_board["rpi4"]["gemm"]["macs_per_cycle"]
        print(f"\nrpi5 / rpi4 int8 gemm MACs per cycle: {ratio:.2f}x (goal >= 2x)")
    print("\nper model: estimated ms, analytical prediction ms, error")
    for r in results:
        cells = [f"{m} {v['est_ms']:.3g}/{v['predicted_ms']:.3g} ({v['error']:+.0%})" for m, v in r["models"].items()]
        print(f"{r['board']}: " + "; ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", default=",".join(arm_boards()), help="comma list of ARM boards")
    parser.add_argument("--no-224", action="store_true", help="leave MobileNetV2-224 out (the slowest model)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-arm-") as tmp:
        files = export_models(Path(tmp), not args.no_224)
        prepared = {name: load_prepared(path) for name, path in files.items()}
        results = []
        for board in args.boards.split(","):
            start = time.monotonic()
            results.append(board_figures(board, files, prepared))
            print(f"{board}: {time.monotonic() - start:.0f} s", file=sys.stderr)
            if args.json:  # after every board, so a stopped run keeps what it finished
                args.json.write_text(json.dumps(results, indent=1) + "\n")
    print_table(results)


if __name__ == "__main__":
    main()
