"""The top-1 accuracy figures of the report, computed in batches.

- **The float model** (the baseline, not an artifact): the torch executor in batches on the
  chosen device, float32 in torch's order of summation. A sample whose two top logits lie within
  float32 rounding of each other may rank them otherwise than the numpy reference would.
- **The compressed model** (what ships): exactly the integer reference executor's outputs. Small
  jobs (samples x MACs per sample up to ``REFERENCE_MACS``) run the numpy reference itself in
  batches. Larger ones run the host build of the generated C (``OUT/c``, built into a temporary
  directory), whose outputs equal the reference executor's byte for byte for int8 outputs and bit
  for bit for float ones (DESIGN §2; ``verify`` and the C tests hold that line); the numpy
  reference computes an int8 convolution at about 0.2 GMAC/s on one core, the C kernels a hundred
  times faster, so above a couple of GMAC the build pays for itself. Without emitted C or a host
  compiler, the numpy reference runs whatever the size.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from ..analysis import total_macs
from ..backends.c.runner_build import RUNNER_BINARY, build_runner
from ..errors import UserError
from ..ir import Graph
from ..reference import run_single
from ..runtimes.runner import LocalRunner
from ..targets import load_target
from ..toolchain import find_compiler
from ..verify.inputs import to_ir_layout
from ..verify.reference import quantize_codes, top1

REFERENCE_MACS = 1 << 31  # above this much work, the compressed model is scored by its C host build
REFERENCE_BATCH = 512
C_BATCH = 256
TORCH_BATCH = 32


def model_inputs(graph: Graph, x: np.ndarray) -> np.ndarray:
    """Data in the source model's layout -> the reference executor's input (IR layout, dtype)."""
    x = to_ir_layout(x, graph.source_layout)
    t = graph.tensors[graph.inputs[0]]
    if t.dtype == "int8" and x.dtype != np.int8:
        x = quantize_codes(x, float(t.quant.scale[0]), int(t.quant.zero_point[0]))
    return x


def float_accuracy(graph: Graph, x: np.ndarray, y: np.ndarray, device: str = "cpu") -> float:
    """Top-1 of a float graph on ``x`` (source layout), run by the torch executor."""
    import torch

    from ..torchexec import build_module

    feeds = np.ascontiguousarray(model_inputs(graph, x), dtype=np.float32)
    module = build_module(graph).to(device).eval()
    hits = 0
    with torch.no_grad():
        for start in range(0, len(feeds), TORCH_BATCH):
            out = module(torch.from_numpy(feeds[start:start + TORCH_BATCH]).to(device)).cpu().numpy()
            hits += int(np.sum(top1(out) == y[start:start + TORCH_BATCH]))
    return hits / len(feeds)


def reference_accuracy(graph: Graph, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 of ``graph`` on ``x`` (source layout), run by the numpy reference executor."""
    feeds = model_inputs(graph, x)
    hits = 0
    for start in range(0, len(feeds), REFERENCE_BATCH):
        out = run_single(graph, feeds[start:start + REFERENCE_BATCH])
        hits += int(np.sum(top1(out) == y[start:start + REFERENCE_BATCH]))
    return hits / len(feeds)


def c_host_outputs(graph: Graph, c_dir: Path, x: np.ndarray) -> Optional[np.ndarray]:
    """Outputs (IR layout) of the C model in ``c_dir`` built for this machine, on ``x`` (source
    layout), in batches of ``C_BATCH``; None without a host compiler."""
    host = load_target("host")
    try:
        compiler = find_compiler(host)
    except UserError:
        return None
    with tempfile.TemporaryDirectory(prefix="edgeconv-score-") as tmp:
        build_runner(c_dir, host, compiler, Path(tmp))
        binary, runner = Path(tmp) / RUNNER_BINARY, LocalRunner()
        outs = [runner.run(binary, np.ascontiguousarray(x[start:start + C_BATCH], dtype=np.float32)).outputs
                for start in range(0, len(x), C_BATCH)]
    return to_ir_layout(np.concatenate(outs), graph.source_layout)


def compressed_accuracy(graph: Graph, x: np.ndarray, y: np.ndarray, c_dir: Optional[Path]) -> float:
    """Top-1 of the compressed ``graph`` as the integer reference computes it (module docstring)."""
    if c_dir is not None and len(x) * total_macs(graph) > REFERENCE_MACS:
        outputs = c_host_outputs(graph, c_dir, x)
        if outputs is not None:
            return float(np.mean(top1(outputs) == y))
    return reference_accuracy(graph, x, y)
