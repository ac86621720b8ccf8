"""`edgeconv compress` end to end on a zoo model through the real command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from edgeconv.zoo import digits_dataset, export, export_module, save_npz

EDGECONV = [str(Path(sys.executable).with_name("edgeconv"))]  # the installed console script
CONTRACT_KEYS = {
    "edgeconv_version", "target", "latency_budget_ms", "predicted_latency_ms", "latency_source",
    "arena_bytes", "weights_bytes", "accuracy", "layers", "artifacts",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    work = tmp_path_factory.mktemp("tiny")
    x_train, y_train, x_val, y_val = digits_dataset()
    return {
        "model": export("tinycnn", work / "tinycnn.pt2"),
        "calib": save_npz(work / "calib.npz", x_train[:500], y_train[:500]),
        "val": save_npz(work / "val.npz", x_val[:500], y_val[:500]),
    }


def compress(*args, cwd=None):
    return subprocess.run([*EDGECONV, "compress", *map(str, args)], capture_output=True, text=True, timeout=900, cwd=cwd)


def test_int8_compress_writes_every_artifact_and_the_contract_report(tiny, tmp_path):
    out = tmp_path / "out"
    proc = compress(tiny["model"], "--target", "rpi4", "--data", tiny["calib"], "--val-data", tiny["val"], "--out", out)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert CONTRACT_KEYS <= set(report)
    assert report["target"] == "rpi4" and report["latency_source"] == "analytical"
    assert report["artifacts"] == {"onnx": "model.onnx", "tflite": "model.tflite", "c": "c"}
    for path in report["artifacts"].values():
        assert (out / path).exists()
    assert (out / "report.html").is_file() and (out / "model.ir.npz").is_file()
    assert {layer["precision"] for layer in report["layers"]} == {"int8"}
    assert report["arena_bytes"] > 0 and report["weights_bytes"] > 0
    accuracy = report["accuracy"]
    assert accuracy["data"] == "val-data" and accuracy["float"] > 0.9
    assert accuracy["float"] - accuracy["compressed"] <= 0.01  # int8 PTQ: at most 1 point lost


def _predicted_ms(tiny, out, precision) -> float:
    proc = compress(tiny["model"], "--target", "rpi4", "--data", tiny["calib"], "--precisions", precision, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "report.json").read_text())["predicted_latency_ms"]


def test_a_budget_between_fp32_and_int8_mixes_them_at_the_least_cost(tiny, tmp_path):
    fp32_ms = _predicted_ms(tiny, tmp_path / "fp32", "fp32")
    int8_ms = _predicted_ms(tiny, tmp_path / "int8", "int8")
    assert int8_ms < fp32_ms
    budget = round((fp32_ms + int8_ms) / 2, 5)
    out = tmp_path / "mixed"
    proc = compress(tiny["model"], "--target", "rpi4", "--data", tiny["calib"], "--val-data", tiny["val"],
                    "--latency-ms", budget, "--precisions", "fp32,int8", "--out", out)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["predicted_latency_ms"] <= budget
    assert {layer["precision"] for layer in report["layers"]} == {"fp32", "int8"}
    assert any(point["chosen"] for point in report["pareto"])
    # A tighter budget never gives a slower prediction.
    tighter = tmp_path / "tighter"
    proc = compress(tiny["model"], "--target", "rpi4", "--data", tiny["calib"], "--latency-ms",
                    round((budget + int8_ms) / 2, 5), "--precisions", "fp32,int8", "--out", tighter)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tighter / "report.json").read_text())["predicted_latency_ms"] <= report["predicted_latency_ms"]


def test_an_impossible_budget_exits_2_before_training_and_writes_nothing(tiny, tmp_path):
    out = tmp_path / "never"
    proc = compress(tiny["model"], "--target", "rpi4", "--data", tiny["calib"], "--latency-ms", "0.00001", "--out", out)
    assert proc.returncode == 2
    assert "fastest predicted latency" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() and not list(tmp_path.glob(".never*"))


def test_the_same_command_twice_gives_byte_identical_artifacts(tiny, tmp_path):
    out = tmp_path / "out"
    runs = []
    for _ in range(2):
        proc = compress(tiny["model"], "--target", "host", "--data", tiny["calib"], "--precisions", "int8",
                        "--out", out, "--force")
        assert proc.returncode == 0, proc.stderr
        runs.append({p: (out / p).read_bytes() for p in ("model.tflite", "model.onnx", "model.ir.npz", "c/model.c",
                                                          "c/model.h", "report.json")})
    for relative, first in runs[0].items():
        assert first == runs[1][relative], relative


class WideBottleneck(torch.nn.Module):
    """conv3x3 -> 1x1 expand to 96 -> 1x1 back to 8: merging the 1x1 pair saves most of its MACs."""

    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 96, 1)
        self.c3 = torch.nn.Conv2d(96, 8, 1)
        self.fc = torch.nn.Linear(8 * 28 * 28, 10)

    def forward(self, x):
        x = torch.relu(self.c2(torch.relu(self.c1(x))))
        return self.fc(torch.relu(self.c3(x)).flatten(1))


def test_layers_are_merged_when_precision_alone_cannot_meet_the_budget(tiny, tmp_path):
    torch.manual_seed(0)
    model = export_module(WideBottleneck(), tmp_path / "wide.pt2", (1, 1, 28, 28))
    base = tmp_path / "int8"
    assert compress(model, "--target", "rpi4", "--data", tiny["calib"], "--out", base).returncode == 0
    int8_ms = json.loads((base / "report.json").read_text())["predicted_latency_ms"]
    out = tmp_path / "merged"
    budget = round(0.5 * int8_ms, 5)
    proc = compress(model, "--target", "rpi4", "--data", tiny["calib"], "--precisions", "int8,w4a4",
                    "--latency-ms", budget, "--epochs", "0", "--out", out)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["predicted_latency_ms"] <= budget
    merged = [layer["merged_from"] for layer in report["layers"] if layer["merged_from"]]
    assert merged and all({"c2", "c3"} <= set(group) for group in merged)  # the bottleneck pair, at least
    assert "c3" not in {layer["name"] for layer in report["layers"]}


def test_a_memory_budget_below_arena_plus_weights_exits_2_and_writes_nothing(tiny, tmp_path):
    out = tmp_path / "small"
    proc = compress(tiny["model"], "--target", "rpi4", "--data", tiny["calib"], "--memory-kb", "4", "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert "memory" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
