"""Benchmark: the same network compiled to C at int8, w2a2 (bit-serial) and w1a1 (XNOR),
single thread on this host; median ms per sample and per layer from edgeconv_run --timing.

    python bench/bench_binary_vs_int8.py [--model binarynet] [--repeat 50] [--rounds 3] [--cflags "..."]
    python bench/bench_binary_vs_int8.py --model binarynet-wide

--model is a trained zoo model, or ``binarynet-wide``: the zoo BinaryNet's pattern at the widths
of the binary nets in the literature (64-64, 128-128, 256 channels of 3x3 convolutions on the
28x28 digits, then 256 and 10 units), where the binary layers carry almost all the work. It is
timed untrained (speed does not depend on the weights' values; its BatchNorm statistics are
random so that no channel is constant).

Each precision is timed --rounds times, interleaved with the others, and the fastest round is kept
(on a shared machine the slowest rounds measure the neighbours). --cflags adds compiler flags to
every build (for example -mavx512vpopcntdq where the CPU has it). A second table gives every
convolution layer's kernel and time at each precision.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgeconv.backends.c import build_host, generate
from edgeconv.frontend import load_model
from edgeconv.passes.pipeline import prepare
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.zoo import training
from edgeconv.zoo.models import conv_bn

PRECISIONS = ("int8", "w2a2", "w1a1")
WIDE = "binarynet-wide"


def binarynet_wide() -> nn.Module:
    """BinaryNet's pattern (conv-BN-Hardtanh, max pools, no residuals) with wide binary layers."""
    layers = []
    for c_in, c_out, pool in ((1, 64, False), (64, 64, True), (64, 128, False), (128, 128, True), (128, 256, False)):
        layers += [*conv_bn(c_in, c_out), nn.Hardtanh()] + ([nn.MaxPool2d(2)] if pool else [])
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(256 * 7 * 7, 256), nn.BatchNorm1d(256), nn.Hardtanh(),
                          nn.Linear(256, 10))
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.running_mean.normal_(0.0, 0.1, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
    return model.eval()


def time_binary(binary: Path, x_path: Path, work: Path, repeat: int) -> dict:
    timing_path = work / "t.json"
    subprocess.run([str(binary), "--repeat", str(repeat), "--timing", str(timing_path), str(x_path), str(work / "y.npy")],
                   check=True)
    return json.loads(timing_path.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="binarynet")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cflags", default="", help="extra compiler flags for every build")
    args = parser.parse_args()
    x_train, _, x_val, _ = training.digits_dataset()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = binarynet_wide() if args.model == WIDE else training.trained(args.model)
        torch.export.save(torch.export.export(model, (torch.from_numpy(x_train[:1]),)), work / "m.pt2")
        graph = prepare(load_model(work / "m.pt2"))
        np.save(work / "x.npy", x_val[:16])
        projects, binaries = {}, {}
        for precision in PRECISIONS:
            out = work / precision
            projects[precision] = generate(quantize_graph(graph, x_train[:256], precision), out / "c")
            binaries[precision], _ = build_host(out / "c", out / "edgeconv_run", flags=tuple(shlex.split(args.cflags)),
                                                profile=True)  # per-layer times
        best = {}
        for _ in range(args.rounds):
            for precision in PRECISIONS:
                timing = time_binary(binaries[precision], work / "x.npy", work / precision, args.repeat)
                if precision not in best or timing["median_ms"] < best[precision]["median_ms"]:
                    best[precision] = timing
    convs = {p: [layer for layer in projects[p].layers if layer.op == "Conv"] for p in PRECISIONS}
    conv_ms = {p: sum(best[p]["per_layer_ms"].get(layer.name, 0.0) for layer in convs[p]) for p in PRECISIONS}
    base, base_conv = best["int8"]["median_ms"], conv_ms["int8"]
    print(f"model {args.model}; extra cflags: {args.cflags or '-'}")
    print("| precision | ms / sample | conv layers ms | speed-up vs int8 (all / conv) | arena B |")
    print("|---|---|---|---|---|")
    for p in PRECISIONS:
        ms = best[p]["median_ms"]
        print(f"| {p} | {ms:.4f} | {conv_ms[p]:.4f} | {base / ms:.2f} / {base_conv / conv_ms[p]:.2f} | {projects[p].arena_bytes} |")
    print()
    print("| conv layer | " + " | ".join(f"{p} kernel | {p} ms" for p in PRECISIONS) + " |")
    print("|---|" + "---|---|" * len(PRECISIONS))
    for i, layer in enumerate(convs["int8"]):
        cells = []
        for p in PRECISIONS:
            other = convs[p][i]
            cells += [other.kernel, f"{best[p]['per_layer_ms'].get(other.name, 0.0):.4f}"]
        print(f"| {layer.name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
