"""``verify``: every artifact of an output directory on LiteRT, TFLite Micro and ONNX Runtime,
judged against the reference executor; verify.json as DESIGN §3 specifies it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgeconv.backends.irfile import IR_FILE_NAME, save_graph
from edgeconv.backends.onnx import write_onnx
from edgeconv.cli import cli
from edgeconv.backends.tflite import write_tflite
from edgeconv.errors import UserError, VerificationFailed
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.reference import executor
from edgeconv.verify import VERIFY_FILE, compare_artifacts, verify_dir, write_verify_json
from tests.unit.test_tflite_writer import calibration, convnet, residual_net

ROW_KEYS = {"bit_exact", "max_abs_diff", "top1_agreement", "accuracy", "latency_ms", "runtime", "version", "passed"}
RUNTIMES = {"tflite-litert", "tflite-micro", "onnxruntime"}


def write_out_dir(out, graph, tflite_graph=None, onnx_graph=None):
    """An OUT directory as ``compress`` leaves it: the compressed IR and its artifacts."""
    out.mkdir(exist_ok=True)
    save_graph(graph, out / IR_FILE_NAME)
    write_tflite(tflite_graph or graph, out / "model.tflite", {"precisions": "test"})
    write_onnx(onnx_graph or graph, out / "model.onnx", {"precisions": "test"})
    return out


def quantized(precision: str, build=convnet):
    float_graph = build()
    return quantize_graph(float_graph, calibration(float_graph), precision)


def plain_convnet():
    return convnet(depthwise=False)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_verify_passes_and_writes_verify_json(tmp_path, precision):
    out = write_out_dir(tmp_path / "out", quantized(precision, plain_convnet))
    result = verify_dir(out)
    written = json.loads((out / VERIFY_FILE).read_text())
    assert written == json.loads(json.dumps(result.to_json()))
    rows = written["runtimes"]
    assert set(rows) == RUNTIMES
    for row in rows.values():
        assert ROW_KEYS <= set(row) and row["passed"] and row["latency_ms"] is None and row["version"]
        assert row["samples"] == 32 and row["top1_agreement"] >= 0.98
    micro = rows["tflite-micro"]
    if precision == "fp32":
        assert micro["max_abs_diff_unit"] == "float"
    else:
        assert micro["bit_exact"] is True and micro["max_abs_diff"] == 0 and micro["max_abs_diff_unit"] == "lsb"
    assert written["reference"]["data"] == "random-32"


@pytest.mark.parametrize("precision", ["w4a4", "w2a2", "w1a1"])
def test_low_bit_random_net_is_bit_exact_on_tflite_micro(tmp_path, precision):
    """A random-weight net quantized without fine-tuning: TFLite Micro is held to bit-exactness;
    LiteRT's and ONNX Runtime's single rounding may flip the top-1 of near-tied logits at 2-4 bits,
    so their agreement is reported (tests/e2e/test_verify_zoo.py holds them on trained models)."""
    out = write_out_dir(tmp_path / "out", quantized(precision, plain_convnet))
    result = compare_artifacts(out)
    write_verify_json(out, result)
    rows = json.loads((out / VERIFY_FILE).read_text())["runtimes"]
    assert set(rows) == RUNTIMES
    for row in rows.values():
        assert ROW_KEYS <= set(row) and row["version"] and row["samples"] == 32 and row["error"] is None
        assert 0.0 <= row["top1_agreement"] <= 1.0
    micro = rows["tflite-micro"]
    assert micro["passed"] and micro["bit_exact"] is True and micro["max_abs_diff"] == 0


def test_accuracy_with_labels(tmp_path):
    graph = quantized("int8", residual_net)
    out = write_out_dir(tmp_path / "out", graph)
    x = calibration(graph, 40, seed=21)
    y = executor.run_single(graph, x).argmax(axis=1)
    y[:4] = (y[:4] + 1) % 5  # the reference is right on 36 of 40 samples
    np.savez(tmp_path / "val.npz", x=x, y=y)
    result = verify_dir(out, data=tmp_path / "val.npz")
    assert result.reference_accuracy == pytest.approx(0.9)
    micro = result.rows["tflite-micro"]
    assert micro.accuracy == pytest.approx(0.9) and micro.samples == 40
    assert abs(result.rows["onnxruntime"].accuracy - 0.9) <= 0.01


def _corrupted_weights(graph):
    """The same graph with one int8 weight of the first conv changed."""
    bad = graph.copy()
    weight = bad.tensors[bad.nodes[1].inputs[1]]
    weight.data = weight.data.copy()
    weight.data.flat[0] = -weight.data.flat[0] if weight.data.flat[0] else 5
    return bad


def test_corrupted_tflite_fails_naming_tflite_micro(tmp_path):
    graph = quantized("int8")
    out = write_out_dir(tmp_path / "out", graph, tflite_graph=_corrupted_weights(graph))
    with pytest.raises(VerificationFailed, match=r"tflite-micro disagrees .*output '\S+' at sample \d+"):
        verify_dir(out)
    rows = json.loads((out / VERIFY_FILE).read_text())["runtimes"]
    assert rows["tflite-micro"]["passed"] is False and rows["tflite-micro"]["bit_exact"] is False
    assert rows["tflite-micro"]["first_mismatch"]["output"] == graph.outputs[0]
    assert rows["onnxruntime"]["passed"] is True


def test_cli_prints_the_table_of_a_failed_verification_and_exits_3(tmp_path):
    graph = quantized("int8")
    out = write_out_dir(tmp_path / "out", graph, tflite_graph=_corrupted_weights(graph))
    (out / "report.json").write_text(json.dumps({"target": "host"}))
    result = CliRunner().invoke(cli, ["verify", str(out), "--json"])
    assert result.exit_code == 3
    shown = json.loads(result.stdout)
    assert shown == json.loads((out / VERIFY_FILE).read_text())
    assert shown["runtimes"]["tflite-micro"]["passed"] is False
    assert "tflite-micro" in result.stderr and "Traceback" not in result.output


def test_onnx_of_another_model_fails_naming_onnxruntime(tmp_path):
    graph = quantized("int8")
    other = quantize_graph(convnet(seed=5), calibration(convnet(seed=5)), "int8")
    out = write_out_dir(tmp_path / "out", graph, onnx_graph=other)
    with pytest.raises(VerificationFailed, match="onnxruntime disagrees"):
        verify_dir(out)
    rows = compare_artifacts(out).rows
    assert rows["onnxruntime"].top1_agreement < 0.98 and rows["tflite-micro"].passed


def test_unreadable_artifact_is_a_failure_not_a_skip(tmp_path):
    out = write_out_dir(tmp_path / "out", quantized("int8"))
    (out / "model.tflite").write_bytes((out / "model.tflite").read_bytes()[:200])
    with pytest.raises(VerificationFailed, match="tflite-litert could not run model.tflite"):
        verify_dir(out)
    rows = json.loads((out / VERIFY_FILE).read_text())["runtimes"]
    assert rows["tflite-micro"]["passed"] is False and rows["tflite-micro"]["error"]


def test_missing_out_dir_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        verify_dir(tmp_path / "nowhere")


def test_out_dir_without_ir_is_a_user_error(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(UserError, match=IR_FILE_NAME):
        verify_dir(tmp_path / "out")


@pytest.mark.parametrize("missing, failing", [("model.tflite", {"tflite-litert", "tflite-micro"}),
                                              ("model.onnx", {"onnxruntime"})])
def test_an_artifact_report_json_lists_but_out_lacks_fails_its_rows(tmp_path, missing, failing):
    out = write_out_dir(tmp_path / "out", quantized("int8"))
    artifacts = {"onnx": "model.onnx", "tflite": "model.tflite", "c": None}
    (out / "report.json").write_text(json.dumps({"target": "host", "artifacts": artifacts}))
    (out / missing).unlink()
    result = CliRunner().invoke(cli, ["verify", str(out)])
    assert result.exit_code == 3, result.output
    rows = json.loads((out / VERIFY_FILE).read_text())["runtimes"]
    assert set(rows) == RUNTIMES, "the rows of a missing artifact stay in verify.json"
    for name, row in rows.items():
        assert row["passed"] is (name not in failing)
        if name in failing:
            assert row["error"] == f"artifact missing: {out / missing} does not exist (report.json lists it)"
            assert f"{name}: artifact missing" in result.stdout and f"{name}: artifact missing" in result.stderr


def test_artifacts_that_are_not_a_table_are_a_user_error(tmp_path):
    out = write_out_dir(tmp_path / "out", quantized("int8"))
    (out / "report.json").write_text(json.dumps({"target": "host", "artifacts": ["model.onnx"]}))
    result = CliRunner().invoke(cli, ["verify", str(out)])
    assert result.exit_code == 2 and "'artifacts' must map each artifact kind" in result.stderr
