"""Running a runtime adapter in a child process, so that a native crash becomes an error.

TFLite Micro and LiteRT are C++ libraries: a model they reject can end the process with an abort
instead of a Python exception. ``run_isolated("tflm", model, x)`` runs ``edgeconv.runtimes.tflm.run``
in a fresh interpreter (``python -m edgeconv.runtimes.isolated``) with a timeout; an abort, a signal
or a timeout raises ``RuntimeError`` naming the runtime and what it printed last.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ._batch import as_input_list

TIMEOUT_S = 600
ADAPTERS = ("tflm", "litert", "onnxruntime")


def run_isolated(adapter: str, model_path, x, timeout: float = TIMEOUT_S, **options) -> list:
    """The adapter's outputs (always a list) for inputs ``x``, computed in a child process."""
    if adapter not in ADAPTERS:
        raise ValueError(f"unknown runtime adapter {adapter!r}")
    with tempfile.TemporaryDirectory(prefix="edgeconv-isolated-") as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "in.npz", *as_input_list(x))
        command = [sys.executable, "-m", __name__, adapter, str(model_path), str(tmp / "in.npz"), str(tmp / "out.npz"),
                   *(f"{k}={v}" for k, v in options.items())]
        try:
            proc = subprocess.run(command, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{adapter} did not finish {Path(model_path).name} within {timeout:.0f} s") from None
        if proc.returncode != 0:
            lines = proc.stderr.decode(errors="replace").strip().splitlines()
            how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit code {proc.returncode}"
            raise RuntimeError(f"{adapter} crashed on {Path(model_path).name} ({how}): "
                               f"{lines[-1] if lines else 'no message'}")
        with np.load(tmp / "out.npz") as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]


def _main(argv: list) -> int:
    adapter, model, inputs, outputs, *options = argv
    module = importlib.import_module(f"{__package__}.{adapter}")
    with np.load(inputs) as data:
        x = [data[f"arr_{i}"] for i in range(len(data.files))]
    result = module.run(model, x, **dict(o.split("=", 1) for o in options))
    np.savez(outputs, *(result if isinstance(result, list) else [result]))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
