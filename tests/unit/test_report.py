"""report.json keys and report.html rendered by a real headless Chromium."""

import json
import os
import shutil
import subprocess

import pytest

from edgeconv.report import LayerReport, Report, write_html, write_json
from edgeconv.report.model import Accuracy, ParetoPoint

CONTRACT_KEYS = {
    "edgeconv_version", "target", "latency_budget_ms", "predicted_latency_ms", "latency_source",
    "arena_bytes", "weights_bytes", "accuracy", "layers", "artifacts",
}


def sample_report() -> Report:
    layers = [
        LayerReport("conv1", "Conv", "int8", "ec_s8_conv2d_slidingwin", 21600, 0.41, [],
                    {"fp32": 0.9, "int8": 0.41, "w1a1": 0.2}),
        LayerReport("block.conv", "Conv", "w1a1", "ec_b1_conv2d_xnor", 93312, 0.12, ["block.conv_a", "block.conv_b"],
                    {"fp32": 2.1, "int8": 0.8, "w1a1": 0.12}),
        LayerReport("fc</script>", "Linear", "int8", "ec_s8_fully_connected", 640, 0.01, [], {"int8": 0.01}),
    ]
    return Report(
        edgeconv_version="0.1.0", target="rpi4", latency_budget_ms=1.0, memory_budget_kb=None,
        predicted_latency_ms=0.54, latency_source="analytical", arena_bytes=12288, weights_bytes=10432,
        accuracy=Accuracy(0.98, 0.971, "top1", "val-data"), layers=layers,
        artifacts={"onnx": "model.onnx", "tflite": "model.tflite", "c": "c"},
        pareto=[ParetoPoint(3.0, 0.0), ParetoPoint(0.54, 0.4, True), ParetoPoint(0.33, 2.5)],
        verify={"runtimes": {"tflite-micro": {"bit_exact": True, "max_abs_diff": 0, "top1_agreement": 1.0,
                                               "accuracy": None, "latency_ms": None, "version": "x", "passed": True}}},
    )


def test_report_json_has_the_contract_keys_and_nulls_for_unmeasured(tmp_path):
    report = sample_report()
    report.arena_bytes = None
    write_json(report, tmp_path / "report.json")
    data = json.loads((tmp_path / "report.json").read_text())
    assert CONTRACT_KEYS <= set(data)
    assert data["arena_bytes"] is None
    assert set(data["accuracy"]) >= {"float", "compressed", "metric", "data"}
    assert set(data["layers"][0]) >= {"name", "op", "precision", "algorithm", "macs", "predicted_ms", "merged_from"}


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (Debian package chromium)")
    pytest.skip("chromium is not installed")


def test_report_html_renders_in_headless_chromium(tmp_path):
    chromium = _chromium()
    write_html(sample_report(), tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", (tmp_path / "report.html").as_uri()],
        capture_output=True, timeout=120,
    )
    dom = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    # The script ran in a real browser: it drew the frontier, the chosen point, the budget line,
    # one bar per layer and precision, and the tables.
    assert 'id="pareto-svg"' in dom and 'class="chosen"' in dom and 'class="budget"' in dom
    assert dom.count('class="bar"') == 7
    assert "block.conv_a, block.conv_b" in dom and "ec_b1_conv2d_xnor" in dom
    assert 'id="verify"' in dom and "tflite-micro" in dom
    assert "fc&lt;/script&gt;" in dom  # a hostile layer name is text, not markup
