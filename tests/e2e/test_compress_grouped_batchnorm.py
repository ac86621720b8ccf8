"""Grouped convolutions and BatchNorms that follow no convolution, through compress, build and
verify with the default artifacts (C, .tflite, .onnx): TFLite Micro and the C runtime bit-exact at
int8, every runtime within its tolerance in float."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from edgeconv import api
from edgeconv.backends.irfile import IR_FILE_NAME, load_graph
from edgeconv.zoo import export_module, save_npz

INPUT_SHAPE = (1, 3, 12, 12)


class GroupedBatchNormNet(nn.Module):
    """BatchNorm on the input, grouped convolutions (2 and 4 groups), a BatchNorm after a pool and
    after a concatenation, and BatchNorm1d on pooled features."""

    def __init__(self):
        super().__init__()
        self.input_bn = nn.BatchNorm2d(3)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.grouped = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.pool_bn = nn.BatchNorm2d(8)
        self.branch = nn.Conv2d(8, 12, 3, stride=2, padding=1, groups=4)
        self.cat_bn = nn.BatchNorm2d(20)
        self.features_bn = nn.BatchNorm1d(20)
        self.fc = nn.Linear(20, 5)

    def forward(self, x):
        x = self.grouped(self.stem(self.input_bn(x)))
        x = torch.relu(self.pool_bn(self.pool(x)))
        x = self.cat_bn(torch.cat([nn.functional.max_pool2d(x, 2), self.branch(x)], dim=1))
        return self.fc(self.features_bn(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)))


def _randomize_batchnorms(model: nn.Module) -> nn.Module:
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(-1.5, 1.5, generator=generator)
                m.bias.uniform_(-0.5, 0.5, generator=generator)
                m.running_mean.uniform_(-0.5, 0.5, generator=generator)
                m.running_var.uniform_(0.3, 2.0, generator=generator)
    return model.eval()


def onnx_batchnorm_model(path, shape=(1, 3, 4, 5), epsilon=1e-2):
    """One BatchNormalization node on the model input, as in ONNX's backend tests
    (``test_batchnorm_epsilon``): scale, bias, mean and variance are initializers."""
    rng = np.random.default_rng(5)
    c = shape[1]
    values = {"s": rng.uniform(-1.5, 1.5, c), "bias": rng.uniform(-1, 1, c),
              "mean": rng.uniform(-1, 1, c), "var": rng.uniform(0.2, 2.0, c)}
    inits = [numpy_helper.from_array(v.astype(np.float32), name) for name, v in values.items()]
    node = helper.make_node("BatchNormalization", ["x", *values], ["y"], epsilon=epsilon)
    graph = helper.make_graph([node], "test_batchnorm_epsilon",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]), str(path))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    work = tmp_path_factory.mktemp("grouped_bn")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(-2.0, 2.0, size=(96,) + INPUT_SHAPE[1:]).astype(np.float32)
    small = rng.normal(size=(48, 3, 4, 5)).astype(np.float32)
    return {
        "net": export_module(_randomize_batchnorms(GroupedBatchNormNet()), work / "grouped_bn.pt2", INPUT_SHAPE),
        "net_calib": save_npz(work / "calib.npz", x[:64]), "net_data": save_npz(work / "data.npz", x[64:]),
        "onnx": onnx_batchnorm_model(work / "batchnorm.onnx"),
        "onnx_calib": save_npz(work / "bn_calib.npz", small[:32]), "onnx_data": save_npz(work / "bn_data.npz", small[32:]),
    }


def _compress_build_verify(model, calib, data, out, precision) -> dict:
    api.compress(model, "host", data=calib, precisions=precision, out=out)
    graph = load_graph(out / IR_FILE_NAME)
    assert not any(n.op_name == "BatchNorm" for n in graph.nodes)
    api.build(out, "host")
    api.verify(out, "host", data=data)
    rows = json.loads((out / "verify.json").read_text())["runtimes"]
    assert {"tflite-litert", "tflite-micro", "onnxruntime", "c-host"} <= set(rows)
    for name, row in rows.items():
        assert row["passed"], (name, row["max_abs_diff"])
    if precision == "int8":
        for name in ("tflite-micro", "c-host"):
            assert rows[name]["bit_exact"] and rows[name]["max_abs_diff"] == 0, name
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_grouped_and_standalone_batchnorm_net_passes_every_runtime(models, tmp_path, precision):
    out = tmp_path / precision
    _compress_build_verify(models["net"], models["net_calib"], models["net_data"], out, precision)
    graph = load_graph(out / IR_FILE_NAME)
    groups = sorted(n.op.groups for n in graph.nodes if n.op_name == "Conv")
    assert 2 in groups and 4 in groups  # the grouped convs stay grouped in the IR (C, ONNX)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_onnx_batchnorm_backend_model_passes_every_runtime(models, tmp_path, precision):
    _compress_build_verify(models["onnx"], models["onnx_calib"], models["onnx_data"], tmp_path / precision, precision)
