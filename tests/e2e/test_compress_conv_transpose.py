"""A PyTorch encoder-decoder with ConvTranspose2d (an FPN-style upsampling path at 32x32, one of them
grouped with a BatchNorm after it) compressed and verified on every runtime: int8 for rpi4 (the runner
cross-built and run under qemu-aarch64) and fp32 on the host."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeconv import api
from edgeconv.backends.irfile import IR_FILE_NAME, load_graph
from edgeconv.zoo import export_module, save_npz
from tests.conftest import require_tool

INPUT_SHAPE = (1, 3, 32, 32)


class UpsamplingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down1 = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, groups=2), nn.BatchNorm2d(8), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
        self.head = nn.Conv2d(8, 4, 1)
        self.fc = nn.Linear(4, 5)

    def forward(self, x):
        a = self.down1(x)
        y = F.relu(self.up2(torch.cat([self.up1(self.down2(a)), a], 1)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.head(y), 1), 1))


@pytest.fixture(scope="module")
def upsampling_net(tmp_path_factory):
    work = tmp_path_factory.mktemp("upsampling_net")
    torch.manual_seed(0)
    module = UpsamplingNet()
    with torch.no_grad():  # BatchNorm statistics as after training, so folding is checked
        for bn in (m for m in module.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
            bn.weight.uniform_(0.5, 1.5)
    x = np.random.default_rng(0).uniform(-1.0, 1.0, size=(96,) + INPUT_SHAPE[1:]).astype(np.float32)
    return {"model": export_module(module.eval(), work / "upsampling.pt2", INPUT_SHAPE),
            "calib": save_npz(work / "calib.npz", x[:64]), "data": save_npz(work / "data.npz", x[64:])}


@pytest.mark.slow
@pytest.mark.parametrize("precision, target", [("int8", "rpi4"), ("fp32", "host")])
def test_conv_transpose_model_compresses_and_passes_every_runtime(upsampling_net, tmp_path, precision, target):
    if target == "rpi4":
        require_tool("aarch64-linux-gnu-gcc")
        require_tool("qemu-aarch64")
    out = tmp_path / precision
    api.compress(upsampling_net["model"], target, data=upsampling_net["calib"], precisions=precision, out=out)
    graph = load_graph(out / IR_FILE_NAME)
    layers = [n for n in graph.nodes if n.op_name == "ConvTranspose"]
    assert len(layers) == 2 and not any(n.op_name == "BatchNorm" for n in graph.nodes)  # folded
    assert {n.algorithm for n in layers} == {f"ec_{'s8' if precision == 'int8' else 'f32'}_conv_transpose2d"}
    api.verify(out, target, data=upsampling_net["data"])
    rows = json.loads((out / "verify.json").read_text())["runtimes"]
    c_row = "c-qemu-rpi4" if target == "rpi4" else "c-host"
    assert {"tflite-litert", "tflite-micro", "onnxruntime", c_row} <= set(rows)
    for name, row in rows.items():
        assert row["passed"], (name, row["max_abs_diff"])
    for name in ("tflite-micro", c_row):
        assert rows[name]["bit_exact"] and rows[name]["max_abs_diff"] == 0, name


@pytest.mark.slow
def test_a_budget_over_every_precision_keeps_transposed_convs_at_int8_or_fp32(upsampling_net, tmp_path):
    """The default precision set with a budget (a quarter above the all-int8 plan's prediction, so
    that it can be met whatever the figures): the selector and the report offer a transposed
    convolution only what its kernels serve."""
    int8 = api.compress(upsampling_net["model"], "rpi4", precisions="int8", epochs=0, data=upsampling_net["calib"],
                        emit="c", out=tmp_path / "int8")
    out = tmp_path / "mixed"
    api.compress(upsampling_net["model"], "rpi4", latency_ms=1.25 * int8["predicted_latency_ms"], epochs=0,
                 data=upsampling_net["calib"], emit="c", out=out)
    layers = [row for row in json.loads((out / "report.json").read_text())["layers"] if row["op"] == "ConvTranspose"]
    assert len(layers) == 2
    for row in layers:
        assert row["precision"] in ("int8", "fp32") and set(row["predicted_ms_by_precision"]) == {"int8", "fp32"}
