"""The zoo's models through every frontend: torch.export, ONNX (both torch exporters), TorchScript.

Weights are the seeded initial ones with non-trivial BatchNorm statistics: what is checked here is
the conversion, which does not depend on training (test_zoo checks the trained models).
"""

from __future__ import annotations

import warnings

import pytest
import torch

from edgeconv.frontend import load_model
from edgeconv.reference import run_single
from edgeconv.zoo import INPUT_SHAPE, MODELS, export_module

from test_frontend_ops import assert_float_close, randomize_batch_norms

FAST_ONNX = ("tinycnn", "mobilenetv2")


def zoo_model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return randomize_batch_norms(MODELS[name](), seed=1)


def check_against_torch(module, graph, batches=(1, 4)) -> None:
    for batch in batches:
        x = torch.rand(batch, *INPUT_SHAPE[1:], generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            ref = module(x).numpy()
        assert_float_close(run_single(graph, x.numpy()), ref)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_zoo_model_through_pt2(name, tmp_path):
    module = zoo_model(name)
    graph = load_model(export_module(module, tmp_path / f"{name}.pt2"))
    check_against_torch(module, graph)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_zoo_model_through_onnx_torchscript_exporter(name, tmp_path):
    module = zoo_model(name)
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(INPUT_SHAPE),), str(path), dynamo=False, input_names=["x"],
                          dynamic_axes={"x": {0: "N"}})
    check_against_torch(module, load_model(path))


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST_ONNX else pytest.mark.slow) for n in sorted(MODELS)])
def test_zoo_model_through_onnx_dynamo_exporter(name, tmp_path):
    module = zoo_model(name)
    graph = load_model(export_module(module, tmp_path / f"{name}.onnx"))
    check_against_torch(module, graph)


@pytest.mark.parametrize("name", ["tinycnn", "resnet8"])
def test_traced_torchscript(name, tmp_path):
    module = zoo_model(name)
    graph = load_model(export_module(module, tmp_path / f"{name}.pt"), input_shape=INPUT_SHAPE)
    check_against_torch(module, graph)


def test_scripted_torchscript(tmp_path):
    module = zoo_model("dscnn")
    path = tmp_path / "dscnn.pt"
    torch.jit.script(module).save(str(path))
    graph = load_model(path, input_shape=(1, 1, 28, 28))
    check_against_torch(module, graph)
    assert "stem.0" in {n.name for n in graph.nodes}  # layers named after their weights


def test_resnet8_names_and_sources(tmp_path):
    graph = load_model(export_module(zoo_model("resnet8"), tmp_path / "r.pt2"))
    names = {n.name: n for n in graph.nodes}
    assert {"stem.0", "layer1.conv1", "layer1.bn1", "layer2.shortcut.0", "fc"} <= set(names)
    adds = [n for n in graph.nodes if n.op_name == "Add"]
    assert [n.name for n in adds] == ["layer1.add", "layer2.add", "layer3.add"]
    assert names["layer1.conv1"].source.startswith("layer1.conv1 (Conv2d), models.py:")
    assert graph.tensor("layer1.conv1.weight").shape == (8, 8, 3, 3)


def test_mobilenetv2_squeeze_excitation_is_a_broadcast_mul(tmp_path):
    graph = load_model(export_module(zoo_model("mobilenetv2"), tmp_path / "m.pt2"))
    (mul,) = [n for n in graph.nodes if n.op_name == "Mul"]
    a, b = (graph.tensors[i].shape for i in mul.inputs)
    assert a == (1, 64, 7, 7) and b == (1, 64, 1, 1)
    assert {"Hardsigmoid", "Hardswish", "GlobalAvgPool", "Clip"} <= {n.op_name for n in graph.nodes}
    assert 6.0 in [n.op.hi for n in graph.nodes if n.op_name == "Clip"]  # ReLU6
