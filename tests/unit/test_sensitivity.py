"""Sensitivity: each layer quantized alone, scored against the float model, cached on disk."""

import json

import numpy as np
import pytest
import torch

from edgeconv.errors import UserError
from edgeconv.ir import Tensor
from edgeconv.reference import run_single
from edgeconv.quant.precision import parse_precision
from edgeconv.select.sensitivity import SensitivityTable, kl_divergence, measure

try:
    from .test_latency import conv_net
except ImportError:  # tests/unit collected as a plain directory (rootdir on sys.path)
    from test_latency import conv_net

PRECISIONS = ["fp32", "int8", "w4a4", "w2a2", "w1a1"]


def quantize_weights_only(graph, node_name, precision):
    """Float graph whose layer ``node_name`` has weights rounded to the precision's symmetric grid.

    int8: per-channel ``round(w / s) * s`` with ``s = max|w_c| / 127``; K-bit DoReFa: the odd grid
    ``(2i - (2^K - 1)) * s`` with one scale; w1a1: ``sign(w) * mean|w_c|``.
    """
    spec = parse_precision(precision)
    g = graph.copy()
    node = g.node(node_name)
    w = g.tensors[node.inputs[1]].data.astype(np.float64)
    flat = w.reshape(w.shape[0], -1)
    if spec.kind == "int8":
        s = np.abs(flat).max(axis=1, keepdims=True) / 127
        q = np.round(flat / s) * s
    elif spec.kind == "xnor":
        q = np.where(flat >= 0, 1.0, -1.0) * np.abs(flat).mean(axis=1, keepdims=True)
    else:
        levels = 2 ** spec.weight_bits - 1
        s = np.abs(flat).max() / levels
        i = np.clip(np.round((flat / s + levels) / 2), 0, levels)
        q = (2 * i - levels) * s
    name = g.unique_name(node.inputs[1] + "_q")
    g.add_tensor(Tensor(name, w.shape, data=q.reshape(w.shape).astype(np.float32)))
    node.inputs[1] = name
    return g.prune()


class CountingQuantizer:
    def __init__(self):
        self.calls = 0

    def __call__(self, graph, node_name, precision):
        self.calls += 1
        return quantize_weights_only(graph, node_name, precision)


@pytest.fixture(scope="module")
def model():
    return conv_net(c=8, hw=8)


@pytest.fixture(scope="module")
def calib():
    return np.random.default_rng(3).normal(size=(24, 3, 8, 8)).astype(np.float32)


def test_costs_grow_as_precision_drops(model, calib, tmp_path):
    table = measure(model, calib, PRECISIONS, quantize_weights_only, run_single, cache_dir=tmp_path)
    layers = [n.name for n in model.nodes if n.op_name in ("Conv", "Linear")]
    assert set(table.costs) == set(layers)
    mean = {p: np.mean([table.cost(layer, p) for layer in layers]) for p in PRECISIONS}
    assert mean["fp32"] == 0.0
    assert 0.0 < mean["int8"] < mean["w4a4"] < mean["w2a2"]
    assert mean["int8"] < mean["w1a1"]  # binary uses its own scale rule (mean |w|): not comparable with w2a2
    for layer in layers:
        assert all(table.cost(layer, p) >= 0 for p in PRECISIONS)


def test_kl_matches_torch(model, calib, tmp_path):
    table = measure(model, calib, ["w2a2"], quantize_weights_only, run_single, layers=["pw"], cache_dir=tmp_path)
    reference = torch.from_numpy(run_single(model, calib)).double()
    quantized = torch.from_numpy(run_single(quantize_weights_only(model, "pw", "w2a2"), calib)).double()
    expected = torch.nn.functional.kl_div(
        torch.log_softmax(quantized, dim=1), torch.log_softmax(reference, dim=1), log_target=True, reduction="batchmean",
    )
    assert table.cost("pw", "w2a2") == pytest.approx(float(expected), rel=1e-9, abs=1e-15)


def test_kl_of_probabilities():
    p = np.array([[0.7, 0.2, 0.1]])
    q = np.array([[0.5, 0.25, 0.25]])
    expected = float(np.sum(p * np.log(p / q)))
    assert kl_divergence(p, q, probabilities=True) == pytest.approx(expected)
    assert kl_divergence(p, p, probabilities=True) == 0.0


def test_results_are_cached_by_weights_data_and_precisions(model, calib, tmp_path):
    quantizer = CountingQuantizer()
    first = measure(model, calib, ["int8", "w2a2"], quantizer, run_single, cache_dir=tmp_path)
    layers = 4
    assert quantizer.calls == 2 * layers
    again = measure(model, calib, ["w2a2", "int8"], quantizer, run_single, cache_dir=tmp_path)
    assert quantizer.calls == 2 * layers and again.costs == first.costs
    measure(model, calib[:12], ["int8", "w2a2"], quantizer, run_single, cache_dir=tmp_path)
    assert quantizer.calls == 4 * layers
    changed = model.copy()
    changed.tensors["w1"].data = changed.tensors["w1"].data * 2
    measure(changed, calib, ["int8", "w2a2"], quantizer, run_single, cache_dir=tmp_path)
    assert quantizer.calls == 6 * layers
    measure(model, calib, ["int8"], quantizer, run_single, cache_dir=tmp_path)
    assert quantizer.calls == 7 * layers
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_default_cache_is_under_the_user_cache(model, calib, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECONV_CACHE_DIR", str(tmp_path))
    table = measure(model, calib, ["int8"], quantize_weights_only, run_single, layers=["fc"])
    files = list((tmp_path / "sensitivity").glob("*.json"))
    assert len(files) == 1
    assert SensitivityTable.from_json(json.loads(files[0].read_text())).costs == table.costs


def test_top1_metric_and_its_refusals(model, calib, tmp_path):
    labels = run_single(model, calib).argmax(axis=1)
    table = measure(model, calib, ["w1a1"], quantize_weights_only, run_single, metric="top1", labels=labels, cache_dir=tmp_path)
    quantized = run_single(quantize_weights_only(model, "conv1", "w1a1"), calib).argmax(axis=1)
    assert table.cost("conv1", "w1a1") == pytest.approx(100.0 - 100.0 * np.mean(quantized == labels))
    with pytest.raises(UserError, match="needs labels"):
        measure(model, calib, ["int8"], quantize_weights_only, run_single, metric="top1", cache_dir=tmp_path)
    with pytest.raises(UserError, match="unknown sensitivity metric"):
        measure(model, calib, ["int8"], quantize_weights_only, run_single, metric="mse", cache_dir=tmp_path)
    with pytest.raises(KeyError):
        table.cost("conv1", "int8")
