"""`edgeconv profile --runner qemu --estimate`: per-layer counts and cycle estimates for ARM boards.

The zoo's TinyCNN is built for rpi4 (aarch64, Cortex-A72) and rpi3 (armhf, Cortex-A53 board,
costed with LLVM's AArch32 Cortex-A57 model), run once under qemu-user with the counting plugin
and costed by llvm-mca. Checked: the per-layer rows add up to the totals, every layer that calls
a kernel executed instructions, efficiencies are fractions of the peak, the table is written and
marked as estimated, and the latency model then reports its predictions as estimated.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import edgeconv.api as api
from edgeconv.cli import cli
from edgeconv.errors import UserError
from edgeconv.profile.model_layers import load_prepared, model_graphs
from edgeconv.select.latency import ESTIMATED, predict_graph_ms
from edgeconv.select.latency_table import ESTIMATED_METHOD, load_table
from edgeconv.targets import load_target
from edgeconv.zoo import models, training
from tests.conftest import require_tool


@pytest.fixture(scope="module")
def tinycnn(tmp_path_factory):
    torch.manual_seed(0)
    model = models.MODELS["tinycnn"]().eval()
    x_train, _, _, _ = training.digits_dataset()
    path = tmp_path_factory.mktemp("model") / "tinycnn.pt2"
    torch.export.save(torch.export.export(model, (torch.from_numpy(x_train[:1]),)), path)
    return path


def _check_rows(result: dict, target: str) -> None:
    assert result["method"] == ESTIMATED_METHOD and result["measured"] == len(result["estimates"]) > 0
    for estimate in result["estimates"]:
        layers, total = estimate["layers"], estimate["total"]
        assert estimate["target"] == target and estimate["method"] == ESTIMATED_METHOD
        assert sum(layer["instructions"] for layer in layers) == total["instructions"] > 0
        assert sum(layer["macs"] for layer in layers) == total["macs"] > 0
        assert sum(layer["est_cycles"] for layer in layers) == pytest.approx(total["est_cycles"])
        assert total["instructions"] < estimate["program_instructions"]  # glue and start-up are left out
        for layer in layers:
            assert {"name", "macs", "instructions", "est_cycles", "est_ms", "efficiency"} <= set(layer)
            if layer["op"] != "Reshape":
                assert layer["instructions"] > 0 and layer["est_cycles"] > 0, layer
            if layer["macs"]:
                assert 0 < layer["efficiency"] <= 1, layer
            else:
                assert layer["efficiency"] is None
    assert (result["layers"], result["total"]) == (result["estimates"][0]["layers"], result["estimates"][0]["total"])


@pytest.mark.slow
def test_rpi4_estimate_fills_a_table_the_latency_model_reports_as_estimated(tinycnn, tmp_path):
    require_tool("qemu-aarch64")
    require_tool("llvm-mca")
    table_path = tmp_path / "rpi4.json"
    result = api.profile("rpi4", runner="qemu", model=tinycnn, out=table_path, estimate=True, precisions="int8")
    _check_rows(result, "rpi4")
    assert result["estimates"][0]["llvm_cpu"] == "cortex-a72"
    table = load_table(table_path)
    assert table.method == ESTIMATED_METHOD and len(table.entries) == result["entries"] > 0
    rpi4 = load_target("rpi4")
    label, make_graph = next(iter(model_graphs(rpi4, load_prepared(tinycnn), ("int8",))))
    prediction = predict_graph_ms(rpi4, make_graph(), table)
    assert prediction.source == ESTIMATED
    # element-wise layers appear in both variant sets' graphs: the table holds their median
    assert prediction.ms == pytest.approx(result["total"]["est_ms"], rel=0.01)


@pytest.mark.slow
def test_rpi3_armhf_estimate_from_the_command_line(tinycnn, tmp_path):
    require_tool("qemu-arm")
    require_tool("llvm-mca")
    out = CliRunner().invoke(cli, ["profile", "--target", "rpi3", "--runner", "qemu", "--estimate", "--model",
                                   str(tinycnn), "--precisions", "int8", "--out", str(tmp_path / "rpi3.json"), "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    _check_rows(result, "rpi3")
    assert result["estimates"][0]["llvm_cpu"] == "cortex-a57"


@pytest.mark.slow
def test_imported_int8_model_is_estimated_at_its_own_quantization(tmp_path):
    """A full-integer .tflite is profiled as compress keeps it: as loaded, never re-quantized."""
    require_tool("qemu-aarch64")
    require_tool("llvm-mca")
    model = Path(__file__).resolve().parents[1] / "data" / "mlperf_tiny" / "ic_resnet8_int8.tflite"
    result = api.profile("rpi4", runner="qemu", model=model, out=tmp_path / "rpi4.json", estimate=True)
    _check_rows(result, "rpi4")
    assert result["total"]["macs"] == 12_501_632  # MLPerf Tiny's IC ResNet-8


def test_estimate_is_refused_where_it_cannot_run(tmp_path):
    with pytest.raises(UserError, match="ARM boards"):
        api.profile("host", estimate=True, out=tmp_path / "host.json")
    with pytest.raises(UserError, match="--runner qemu"):
        api.profile("rpi4", runner="ssh://pi@127.0.0.1", estimate=True, out=tmp_path / "rpi4.json")
    out = CliRunner().invoke(cli, ["profile", "--target", "host", "--estimate", "--out", str(tmp_path / "h.json")])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert not any(tmp_path.iterdir())


def test_latency_table_method_round_trips_and_is_checked(tmp_path):
    from edgeconv.select.latency_table import LatencyKey, LatencyTable, save_table

    table = LatencyTable("rpi4", "Cortex-A72", "2026-01-01T00:00:00Z", "gcc", method=ESTIMATED_METHOD)
    table.add(LatencyKey("Conv", "x=1", "int8", "ec_s8_conv2d_1x1"), 0.5)
    save_table(table, tmp_path / "t.json")
    assert load_table(tmp_path / "t.json").method == ESTIMATED_METHOD
    data = json.loads((tmp_path / "t.json").read_text())
    data["method"] = "guessed"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="key method"):
        load_table(tmp_path / "bad.json")
    del data["method"]  # tables written before the key existed are measured ones
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert load_table(tmp_path / "old.json").method == "measured"
