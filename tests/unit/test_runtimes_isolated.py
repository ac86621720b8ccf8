"""Runtimes in a child process: same outputs, and a crash becomes a RuntimeError."""

from pathlib import Path

import numpy as np
import pytest

from edgeconv.runtimes import tflm
from edgeconv.runtimes.isolated import run_isolated

MODEL = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny" / "kws_dscnn_int8.tflite"


def test_isolated_run_gives_the_in_process_outputs():
    x = np.random.default_rng(0).integers(-128, 128, (3, 49, 10, 1), dtype=np.int8)
    np.testing.assert_array_equal(run_isolated("tflm", MODEL, x)[0], tflm.run(MODEL, x))


def test_a_crashing_interpreter_is_an_error_naming_the_runtime_and_model(tmp_path):
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(MODEL.read_bytes()[:3000])
    x = np.zeros((1, 49, 10, 1), dtype=np.int8)
    with pytest.raises(RuntimeError, match="tflm crashed on truncated.tflite"):
        run_isolated("tflm", bad, x)
