"""The QDQ models compute the same bytes in ONNX Runtime on every x86 ISA.

ONNX Runtime picks its integer kernels from the CPU it runs on (AVX-512 VNNI, AVX-512BW, AVX2,
SSE4), and they did not all round alike on int8 x int8 products (``backends/onnx/emitter.py``
says why the models store uint8 codes). This test runs the same models on this machine's own
CPU and, through ``qemu-x86_64``, on an AVX2 + FMA CPU without AVX-512 (Haswell) and on an
SSE4.2 one (Nehalem), and requires byte-identical outputs: whatever CPU the test suite or a user
has, the verify table's ONNX Runtime row does not depend on it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgeconv.backends.onnx import write_onnx
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.quant.single_rounding import with_single_rounding
from edgeconv.reference import executor
from edgeconv.runtimes import onnxruntime as ort_adapter
from tests.conftest import require_tool
from tests.unit.test_tflite_writer import QUANTIZED, activation_net, calibration, conv1d_net, convnet, residual_net

# Emulated CPUs (qemu's names) and the ISA each gives ONNX Runtime: no AVX-512 in either.
EMULATED_CPUS = {"Haswell": "AVX2 + FMA", "Nehalem": "SSE4.2"}

# Runs under the emulated CPU: only onnxruntime and numpy, through the project's own session.
WORKER = """
import json, sys
import numpy as np
from edgeconv.runtimes import onnxruntime as ort_adapter
for case in json.loads(open(sys.argv[1]).read()):
    np.save(case["out"], np.asarray(ort_adapter.run(case["model"], np.load(case["x"]))))
"""


def _models():
    builds = {"convnet": lambda: convnet(depthwise=False), "depthwise_convnet": convnet,
              "residual_net": residual_net, "conv1d_net": conv1d_net, "activation_net": activation_net}
    for name, build in builds.items():
        float_graph = build()
        for precision in QUANTIZED if name != "activation_net" else ("int8",):
            yield f"{name}-{precision}", with_single_rounding(quantize_graph(float_graph, calibration(float_graph), precision))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Every model written as .onnx with its inputs and this CPU's outputs."""
    root = tmp_path_factory.mktemp("onnx_isa")
    cases = []
    for i, (name, graph) in enumerate(_models()):
        model = write_onnx(graph, root / f"{i}.onnx")
        x = calibration(graph, 64, seed=3)
        np.save(root / f"{i}-x.npy", x)
        cases.append({"name": name, "model": str(model), "x": str(root / f"{i}-x.npy"),
                      "native": np.asarray(ort_adapter.run(model, x)), "reference": executor.run_single(graph, x)})
    return root, cases


@pytest.mark.slow
@pytest.mark.parametrize("cpu", sorted(EMULATED_CPUS))
def test_onnxruntime_outputs_do_not_depend_on_the_cpu(written, cpu):
    qemu = require_tool("qemu-x86_64")
    root, cases = written
    manifest = root / f"{cpu}.json"
    manifest.write_text(json.dumps([{"model": c["model"], "x": c["x"], "out": str(root / f"{i}-{cpu}.npy")}
                                    for i, c in enumerate(cases)]))
    result = subprocess.run([qemu, "-cpu", cpu, sys.executable, "-c", WORKER, str(manifest)],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    differing = [c["name"] for i, c in enumerate(cases)
                 if np.load(root / f"{i}-{cpu}.npy").tobytes() != c["native"].tobytes()]
    assert differing == [], f"ONNX Runtime on {cpu} ({EMULATED_CPUS[cpu]}) differs from this CPU on {differing}"


def test_models_agree_with_the_reference_on_top1(written):
    """What the verify table asks of ONNX Runtime, on the same models (this CPU)."""
    _, cases = written
    for c in cases:
        agreement = np.mean(c["native"].argmax(axis=1) == c["reference"].argmax(axis=1))
        assert agreement >= 0.98, (c["name"], agreement)
