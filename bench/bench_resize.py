"""Benchmark: one bilinear resize (int8 codes in and out, or float32) on our C runtime against
LiteRT+XNNPACK, LiteRT builtin, TFLite Micro and ONNX Runtime, single thread, interleaved
(``common.py``); and the latency model's prediction of the layer against our measured time.

    python bench/bench_resize.py            -> bench/results/resize.json

The shapes are an FPN's top-down steps (2x at half-pixel centers, 2x with ``align_corners``) and a
downsampling. Our time is the runner's per-inference median (``edgeconv_run --timing``, release
build); ``cycles/elem`` is our minimum time at the host target's clock over the output elements.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from common import CRunnerTimer, load_note, machine, measure, peer_timers, write_results  # noqa: I001

# (channels, in H, in W, out H, out W, align_corners)
SHAPES = [(64, 16, 16, 32, 32, False), (32, 28, 28, 56, 56, False), (64, 16, 16, 32, 32, True),
          (32, 56, 56, 28, 28, False)]
SAMPLES = 4


def resize_graph(channels: int, h: int, w: int, oh: int, ow: int, align_corners: bool, dtype: str):
    """Input -> ResizeBilinear -> output, int8 (one grid) or float32."""
    from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
    from edgeconv.ir.verify import verify

    quant = QuantParams(1 / 64, -3) if dtype == "int8" else None
    g = Graph(name="resize", source_layout="NCHW")
    g.add_tensor(Tensor("x", (1, channels, h, w), dtype, quant=quant))
    g.add_tensor(Tensor("y", (1, channels, oh, ow), dtype, quant=quant))
    g.add_node(Node("resize", ops.ResizeBilinear(size=(oh, ow), align_corners=align_corners), ["x"], "y",
                    precision="int8" if dtype == "int8" else "fp32"))
    g.inputs, g.outputs = ["x"], ["y"]
    verify(g)
    return g


def bench_shape(shape: tuple, dtype: str, work: Path) -> dict:
    from edgeconv.backends.c import generate
    from edgeconv.backends.onnx import write_onnx
    from edgeconv.backends.tflite import build_tflite
    from edgeconv.select.latency import predict_layer
    from edgeconv.targets import load_target

    channels, h, w, oh, ow, corners = shape
    name = f"{channels}x{h}x{w}->{oh}x{ow}{' ac' if corners else ''} {dtype}"
    graph = resize_graph(*shape, dtype)
    case = work / name.replace(" ", "_").replace(">", "")
    generate(graph, case / "c")
    tflite_path = case / "model.tflite"
    tflite_path.write_bytes(build_tflite(graph, {}))
    onnx_path = write_onnx(graph, case / "model.onnx", {})
    rng = np.random.default_rng(0)
    x = (rng.integers(-128, 128, size=(SAMPLES, h, w, channels), dtype=np.int8) if dtype == "int8"
         else rng.uniform(-1, 1, size=(SAMPLES, channels, h, w)).astype(np.float32))
    if dtype == "int8":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    errors: dict = {}
    timers = {"c": CRunnerTimer(case / "c", case, x), **peer_timers(tflite_path, onnx_path, errors)}
    times = measure(timers)
    host = load_target("host")
    elements = channels * oh * ow
    ours = times["c"]
    return {
        "case": name, "times_ms": {k: t.median_ms for k, t in times.items()},
        "ours_over": {k: ours.median_ms / t.median_ms for k, t in times.items() if k != "c"},
        "cycles_per_element": ours.min_ms * 1e-3 * host.cpu.clock_ghz * 1e9 / elements,
        "predicted_ms": predict_layer(host, graph, graph.nodes[0], threads=1).ms, "errors": errors,
    }


def main() -> int:
    info = machine()
    print(load_note(info))
    rows = []
    with tempfile.TemporaryDirectory(prefix="ec_bench_resize_") as tmp:
        for dtype in ("int8", "float32"):
            for shape in SHAPES:
                rows.append(bench_shape(shape, dtype, Path(tmp)))
    peers = ("litert-xnnpack", "litert-builtin", "tflm", "onnxruntime")
    print("| case | ours ms | " + " | ".join(f"ours/{p}" for p in peers) + " | cycles/elem | predicted ms |")
    print("|---|---|" + "---|" * len(peers) + "---|---|")
    for r in rows:
        ratios = " | ".join(f"{r['ours_over'][p]:.2f}x" if p in r["ours_over"] else "—" for p in peers)
        print(f"| {r['case']} | {r['times_ms']['c']:.4f} | {ratios} | {r['cycles_per_element']:.2f} "
              f"| {r['predicted_ms']:.4f} |")
    path = write_results("resize", {"machine": info, "results": rows})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
