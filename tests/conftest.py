"""Shared test helpers.

``require_tool(name)``: the path of an external program the test needs (a cross compiler,
qemu-user, sshd, chromium). Missing, it skips the test on a developer's machine and FAILS it
under ``CI=true``: CI installs every tool (``make test``), so a missing one there is a broken
setup, never a reason to skip. Use it for tools only, never to skip a check.

``tiny_onnx_model``: a real ONNX file (Conv 3x3 -> ReLU -> global average pool -> Linear, input
1x1x8x8, 10 classes) written with the ``onnx`` package, for command-line and data tests.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeconv.backends.c.object_cache import OBJECT_CACHE_ENV

TINY_INPUT_SHAPE = (1, 1, 8, 8)
TINY_CLASSES = 10


# Packages whose versions decide the verify tables and bit-exactness figures of a run.
RUNTIME_PACKAGES = ("torch", "numpy", "onnxruntime", "ai-edge-litert", "tflite-micro")


def pytest_report_header(config) -> list:
    """The CPU, its x86 ISA extensions and the runtime versions this run's results hold for."""
    from importlib.metadata import version

    from edgeconv.targets import load_target

    cpu = load_target("host").cpu
    return [f"host CPU: {cpu.model}, {cpu.cores} cores, ISA: {' '.join(cpu.features) or 'none detected'}",
            "runtimes: " + ", ".join(f"{name} {version(name)}" for name in RUNTIME_PACKAGES)]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """Absolute path of program ``name``; skip without it, or fail under CI=true."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed (make test installs it)"
    if in_ci():
        pytest.fail(f"{message}; under CI=true a missing tool is a failure")
    pytest.skip(message)


_USER_ZOO_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgeconv" / "zoo"


def _run_object_cache(tmp_path_factory) -> Path:
    """A folder every test worker of this run shares (xdist gives each worker its own base)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "objects"


@pytest.fixture(autouse=True)
def _isolated_user_cache(tmp_path_factory, monkeypatch):
    """Keep tests away from the user's cache (measured latency tables live there).

    Trained zoo weights are the exception: they depend only on the code and data that make them
    (their cache key hashes both), so every test shares the user's copy instead of retraining.
    Compiled kernel objects (``backends.c.object_cache``, keyed the same way) are shared by the
    tests of one run: every kernel a run builds is compiled at least once in that run.
    """
    monkeypatch.setenv("EDGECONV_ZOO_CACHE", str(_USER_ZOO_CACHE))
    monkeypatch.setenv(OBJECT_CACHE_ENV, str(_run_object_cache(tmp_path_factory)))
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.delenv("EDGECONV_CACHE_DIR", raising=False)


def write_tiny_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = {
        "w": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
        "b": rng.standard_normal(4).astype(np.float32),
        "fw": rng.standard_normal((TINY_CLASSES, 4)).astype(np.float32),
        "fb": rng.standard_normal(TINY_CLASSES).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "fw", "fb"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(TINY_INPUT_SHAPE))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, TINY_CLASSES])],
        [numpy_helper.from_array(array, name) for name, array in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory) -> Path:
    return write_tiny_onnx(tmp_path_factory.mktemp("models") / "tiny.onnx")
