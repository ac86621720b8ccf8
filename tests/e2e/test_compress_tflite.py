"""`edgeconv compress model.tflite --target host` on the MLPerf Tiny int8 models, through the CLI.

An imported full-integer model keeps its own quantization (DESIGN §3): no data needed, and every
artifact carries the same integers. Checked here:

- exit 0 and a complete OUT: report.json (arena, weights, predicted latency and its source),
  model.tflite, model.onnx, c/, model.ir.npz;
- the re-emitted model.tflite gives TFLM's outputs of the original model byte for byte;
- ``--data`` with labels reports accuracy, measured exactly (labels derived from TFLM's top-1);
- bad input exits 2 with one message and no traceback, and leaves no OUT behind.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tflite.BuiltinOperator import BuiltinOperator

from edgeconv.backends.tflite.flatmodel import FlatModel, TflTensor
from edgeconv.cli import cli
from edgeconv.frontend.tflite import load_tflite
from edgeconv.runtimes import tflm

DATA = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny"
MODELS = ["ic_resnet8_int8", "kws_dscnn_int8", "ad_fc_autoencoder_int8"]
CLASSIFIER = "kws_dscnn_int8"  # 12 keyword classes: the model used for the accuracy check
SAMPLES = 16
SEED = 20240611
REPORT_KEYS = ("arena_bytes", "weights_bytes", "predicted_latency_ms", "latency_source")
CONSOLE_SCRIPT = Path(sys.executable).with_name("edgeconv")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_user_error(result, *fragments):
    """Exit 2, every fragment in the message, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def random_int8_inputs(path: Path, seed: int = SEED) -> np.ndarray:
    """SAMPLES seeded int8 inputs in the model's own layout (NHWC for images)."""
    graph = load_tflite(path)
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    if graph.source_layout == "NHWC" and len(shape) == 3:
        shape = (shape[1], shape[2], shape[0])
    return np.random.default_rng(seed).integers(-128, 128, size=(SAMPLES, *shape), dtype=np.int8)


def input_quantization(path: Path) -> tuple:
    graph = load_tflite(path)
    quant = graph.tensors[graph.inputs[0]].quant
    return float(quant.scale[0]), int(quant.zero_point[0])


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    """{model name: OUT} after ``edgeconv compress <model>.tflite --target host``, each exit 0."""
    root = tmp_path_factory.mktemp("compress")
    outs = {}
    for name in MODELS:
        out = root / name
        result = invoke("compress", DATA / f"{name}.tflite", "--target", "host", "--out", out)
        assert result.exit_code == 0, result.output
        outs[name] = out
    return outs


@pytest.mark.parametrize("name", MODELS)
def test_compress_writes_every_artifact_and_the_report(compressed, name):
    out = compressed[name]
    report = json.loads((out / "report.json").read_text())
    assert all(report[key] is not None for key in REPORT_KEYS), {key: report.get(key) for key in REPORT_KEYS}
    assert isinstance(report["arena_bytes"], int) and report["arena_bytes"] > 0
    assert isinstance(report["weights_bytes"], int) and report["weights_bytes"] > 0
    assert report["predicted_latency_ms"] > 0
    assert report["latency_source"] in ("analytical", "measured-table")
    assert report["target"] == "host"
    assert report["accuracy"]["compressed"] is None  # no data given: not measured, not made up
    assert all(layer["precision"] == "int8" for layer in report["layers"])
    assert report["artifacts"] == {"onnx": "model.onnx", "tflite": "model.tflite", "c": "c"}
    for artifact in ("model.onnx", "model.tflite", "c/model.c", "c/model.h", "model.ir.npz", "report.html"):
        assert (out / artifact).is_file(), artifact


@pytest.mark.parametrize("name", MODELS)
def test_reemitted_tflite_gives_the_original_tflm_outputs(compressed, name):
    original = DATA / f"{name}.tflite"
    x = random_int8_inputs(original)
    expected = tflm.run(original, x)
    ours = tflm.run(compressed[name] / "model.tflite", x)
    assert ours.dtype == expected.dtype == np.int8
    np.testing.assert_array_equal(ours, expected)


def test_data_with_labels_reports_accuracy(tmp_path):
    """Labels are TFLM's top-1 on the samples, half of them shifted to a wrong class: the
    compressed model (bit-exact with TFLM) must score exactly 0.5."""
    model = DATA / f"{CLASSIFIER}.tflite"
    codes = random_int8_inputs(model)
    scale, zero_point = input_quantization(model)
    x = (scale * (codes.astype(np.float32) - zero_point)).astype(np.float32)  # quantizes back to `codes`
    logits = tflm.run(model, codes)
    classes = logits.shape[-1]
    y = logits.reshape(SAMPLES, -1).argmax(axis=1).astype(np.int64)
    y[::2] = (y[::2] + 1) % classes
    np.savez(tmp_path / "data.npz", x=x, y=y)
    out = tmp_path / "out"
    result = invoke("compress", model, "--target", "host", "--data", tmp_path / "data.npz", "--emit", "c", "--out", out)
    assert result.exit_code == 0, result.output
    accuracy = json.loads((out / "report.json").read_text())["accuracy"]
    assert accuracy["compressed"] == 0.5
    assert accuracy["data"] == "data" and accuracy["metric"] == "top1"
    assert accuracy["float"] is None  # an imported int8 model has no float counterpart


def test_precisions_on_an_int8_tflite_is_refused(tmp_path):
    out = tmp_path / "out"
    result = invoke("compress", DATA / f"{CLASSIFIER}.tflite", "--target", "host", "--precisions", "w4a4", "--out", out)
    assert_user_error(result, "already quantized", "not supported")
    assert not out.exists()


def test_memory_budget_is_checked_on_an_imported_model(compressed, tmp_path):
    report = json.loads((compressed[CLASSIFIER] / "report.json").read_text())
    needed_kb = (report["arena_bytes"] + report["weights_bytes"]) / 1024
    out = tmp_path / "small"
    result = invoke("compress", DATA / f"{CLASSIFIER}.tflite", "--target", "host", "--memory-kb", f"{needed_kb - 1:.1f}",
                    "--out", out)
    assert_user_error(result, "--memory-kb", f"arena {report['arena_bytes']} B")
    assert not out.exists()
    fits = tmp_path / "fits"
    result = invoke("compress", DATA / f"{CLASSIFIER}.tflite", "--target", "host", "--memory-kb", f"{math.ceil(10 * needed_kb) / 10}",
                    "--out", fits)
    assert result.exit_code == 0, result.output


def test_truncated_tflite_is_refused_by_the_console_script(tmp_path):
    """The real console script in a subprocess: exit code 2, the file named, no traceback."""
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes((DATA / f"{CLASSIFIER}.tflite").read_bytes()[:5000])
    out = tmp_path / "out"
    proc = subprocess.run([str(CONSOLE_SCRIPT), "compress", str(truncated), "--target", "host", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "truncated.tflite" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_every_unsupported_operator_is_listed(tmp_path):
    """A float model x -> TANH -> RELU -> EXP -> y: TANH and EXP are named, RELU is not."""
    model = FlatModel()
    x, a, b, y = (model.add_tensor(TflTensor(name, (1, 8), "float32")) for name in ("x", "tanh", "relu", "exp"))
    model.add_operator(BuiltinOperator.TANH, 1, [x], [a])
    model.add_operator(BuiltinOperator.RELU, 1, [a], [b])
    model.add_operator(BuiltinOperator.EXP, 1, [b], [y])
    model.inputs, model.outputs = [x], [y]
    path = tmp_path / "unsupported.tflite"
    path.write_bytes(model.serialize())
    out = tmp_path / "out"
    result = invoke("compress", path, "--target", "host", "--out", out)
    assert_user_error(result, "unsupported.tflite", "TANH", "EXP")
    assert "RELU" not in result.stderr
    assert not out.exists()


def test_existing_output_directory_is_refused(compressed):
    out = compressed[CLASSIFIER]
    before = (out / "report.json").read_bytes()
    result = invoke("compress", DATA / f"{CLASSIFIER}.tflite", "--target", "host", "--out", out)
    assert_user_error(result, "already exists", "--force")
    assert (out / "report.json").read_bytes() == before
