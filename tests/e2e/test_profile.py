"""`edgeconv profile` on the build machine: measured tables the latency model then uses.

Layers are really compiled and timed on this machine; the checks are on what the latency model
does with the table (``measured-table`` with the measured value), never on the times themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import edgeconv.api as api
from edgeconv.backends.irfile import IR_FILE_NAME, load_graph
from edgeconv.errors import UserError
from edgeconv.profile import profile_target
from edgeconv.profile.cases import LAYER, ConvShape, LayerCase, case_graph
from edgeconv.runtimes.runner import LocalRunner
from edgeconv.select.latency import MEASURED, predict_graph_ms, predict_layer
from edgeconv.select.latency_table import load_table
from edgeconv.targets import load_target
from edgeconv.toolchain import find_compiler
from edgeconv.zoo import models, training

SHAPE = ConvShape(8, 16, 8, 3)
CASES = [LayerCase(SHAPE, "int8", "ec_s8_conv2d_slidingwin"), LayerCase(SHAPE, "w1a1", "ec_b1_conv2d_xnor")]


@pytest.mark.slow
def test_micro_benchmark_entries_are_what_the_latency_model_looks_up():
    host = load_target("host")
    table, summary = profile_target(host, LocalRunner(), find_compiler(host), cases=CASES)
    assert summary.measured == len(CASES) and summary.left_out == [] and summary.failed == []
    for case in CASES:
        graph = case_graph(case)
        layer = predict_layer(host, graph, graph.node(LAYER), table=table)
        assert layer.source == MEASURED and layer.algorithm == case.algorithm
        assert layer.ms > 0
        # every other node of the benchmark graph (Quantize, Sign, one-padding, Dequantize) too
        assert predict_graph_ms(host, graph, table).source == MEASURED


def test_profile_with_no_time_left_measures_nothing_and_says_so():
    host = load_target("host")
    table, summary = profile_target(host, LocalRunner(), find_compiler(host), cases=CASES, budget_s=0.0)
    assert summary.measured == 0 and len(summary.left_out) == len(CASES) and table.entries == {}


def test_profile_refuses_emulated_timings(tmp_path):
    with pytest.raises(UserError, match="qemu"):
        api.profile("rpi4", runner="qemu", out=tmp_path / "rpi4.json")
    with pytest.raises(UserError, match="ssh://"):
        api.profile("rpi4", out=tmp_path / "rpi4.json")
    assert not (tmp_path / "rpi4.json").exists()


@pytest.mark.slow
def test_model_profile_makes_compress_report_a_measured_latency(tmp_path):
    torch.manual_seed(0)
    model = models.MODELS["tinycnn"]().eval()
    x_train, y_train, _, _ = training.digits_dataset()
    torch.export.save(torch.export.export(model, (torch.from_numpy(x_train[:1]),)), tmp_path / "tinycnn.pt2")
    np.savez(tmp_path / "calib.npz", x=x_train[:64], y=y_train[:64])
    lut = tmp_path / "host.json"

    summary = api.profile("host", model=tmp_path / "tinycnn.pt2", out=lut)
    assert summary["measured"] > 0 and summary["left_out"] == [] and summary["failed"] == [] and lut.is_file()
    table = load_table(lut)
    assert table.target == "host" and len(table.entries) == summary["entries"]

    report = api.compress(tmp_path / "tinycnn.pt2", "host", data=tmp_path / "calib.npz", precisions="int8",
                          latency_table=lut, out=tmp_path / "out")
    assert report["latency_source"] == "measured-table"
    compressed = load_graph(Path(report["out"]) / IR_FILE_NAME)
    prediction = predict_graph_ms(load_target("host"), compressed, table)
    assert prediction.source == MEASURED
    assert report["predicted_latency_ms"] == pytest.approx(prediction.ms)
