"""Benchmark: the same zoo network compiled to C at int8, w2a2 (bit-serial) and w1a1 (XNOR),
single thread on this host; median ms per sample and per layer from edgeconv_run --timing.

    python bench/bench_binary_vs_int8.py [--model binarynet] [--repeat 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from edgeconv.backends.c import build_host, generate
from edgeconv.frontend import load_model
from edgeconv.passes.pipeline import prepare
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.zoo import training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="binarynet")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    x_train, _, x_val, _ = training.digits_dataset()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        torch.export.save(torch.export.export(training.trained(args.model), (torch.from_numpy(x_train[:1]),)), work / "m.pt2")
        graph = prepare(load_model(work / "m.pt2"))
        np.save(work / "x.npy", x_val[:16])
        results = {}
        for precision in ("int8", "w2a2", "w1a1"):
            out = work / precision
            project = generate(quantize_graph(graph, x_train[:256], precision), out / "c")
            binary, _ = build_host(out / "c", out / "edgeconv_run")
            subprocess.run([str(binary), "--repeat", str(args.repeat), "--timing", str(out / "t.json"),
                            str(work / "x.npy"), str(out / "y.npy")], check=True)
            timing = json.loads((out / "t.json").read_text())
            convs = {layer.name for layer in project.layers if layer.op == "Conv"}
            results[precision] = (timing["median_ms"], sum(ms for n, ms in timing["per_layer_ms"].items() if n in convs),
                                  project.arena_bytes)
    base, base_conv = results["int8"][0], results["int8"][1]
    print(f"model {args.model}")
    print("| precision | ms / sample | conv layers ms | speed-up vs int8 (all / conv) | arena B |")
    print("|---|---|---|---|---|")
    for precision, (ms, conv_ms, arena_bytes) in results.items():
        print(f"| {precision} | {ms:.3f} | {conv_ms:.3f} | {base / ms:.2f} / {base_conv / conv_ms:.2f} | {arena_bytes} |")


if __name__ == "__main__":
    main()
