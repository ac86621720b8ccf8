"""A PyTorch model with GELU (both forms) compressed, built and verified on every runtime."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeconv import api
from edgeconv.backends.irfile import IR_FILE_NAME, load_graph
from edgeconv.ir import ops
from edgeconv.zoo import export_module, save_npz

INPUT_SHAPE = (1, 3, 12, 10)


class GeluNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GELU())
        self.down = nn.Conv2d(8, 12, 3, stride=2, padding=1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        x = F.gelu(self.down(self.stem(x)), approximate="tanh")
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


@pytest.fixture(scope="module")
def gelu_net(tmp_path_factory):
    work = tmp_path_factory.mktemp("gelu_net")
    torch.manual_seed(0)
    x = np.random.default_rng(0).uniform(-2.0, 2.0, size=(96,) + INPUT_SHAPE[1:]).astype(np.float32)
    return {"model": export_module(GeluNet().eval(), work / "gelu.pt2", INPUT_SHAPE),
            "calib": save_npz(work / "calib.npz", x[:64]), "data": save_npz(work / "data.npz", x[64:])}


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_gelu_model_compresses_and_passes_every_runtime(gelu_net, tmp_path, precision):
    out = tmp_path / precision
    api.compress(gelu_net["model"], "host", data=gelu_net["calib"], precisions=precision, out=out)
    graph = load_graph(out / IR_FILE_NAME)
    assert [n.op for n in graph.nodes if n.op_name == "Gelu"] == [ops.Gelu(), ops.Gelu(approximate="tanh")]
    api.build(out, "host")
    api.verify(out, "host", data=gelu_net["data"])
    rows = json.loads((out / "verify.json").read_text())["runtimes"]
    assert {"tflite-litert", "tflite-micro", "onnxruntime", "c-host"} <= set(rows)
    for name, row in rows.items():
        assert row["passed"], (name, row["max_abs_diff"])
    if precision == "int8":
        for name in ("tflite-micro", "c-host"):
            assert rows[name]["bit_exact"] and rows[name]["max_abs_diff"] == 0, name
