"""The IR file ``verify`` reads (``OUT/model.ir.npz``): an exact, reproducible round trip."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.backends.irfile import load_graph, save_graph
from edgeconv.errors import UserError
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.reference import executor
from tests.unit.test_tflite_writer import activation_net, calibration, conv1d_net, convnet


@pytest.mark.parametrize("precision", ["fp32", "int8", "w2a2", "w1a1"])
@pytest.mark.parametrize("build", [convnet, conv1d_net])
def test_round_trip_is_exact(tmp_path, build, precision):
    float_graph = build()
    graph = quantize_graph(float_graph, calibration(float_graph), precision)
    graph.nodes[1].algorithm = "sliding-window"
    graph.nodes[1].merged_from = ("a", "b")
    loaded = load_graph(save_graph(graph, tmp_path / "model.ir.npz"))
    assert (loaded.name, loaded.inputs, loaded.outputs, loaded.source_layout, loaded.metadata) == (
        graph.name, graph.inputs, graph.outputs, graph.source_layout, graph.metadata)
    assert [(n.name, n.op, n.inputs, n.output, n.precision, n.algorithm, n.merged_from, n.source) for n in loaded.nodes] == [
        (n.name, n.op, n.inputs, n.output, n.precision, n.algorithm, n.merged_from, n.source) for n in graph.nodes]
    for name, t in graph.tensors.items():
        u = loaded.tensors[name]
        assert (u.shape, u.dtype, u.layout, u.quant) == (t.shape, t.dtype, t.layout, t.quant)
        assert (t.data is None and u.data is None) or (u.data.dtype == t.data.dtype and np.array_equal(u.data, t.data))
    x = calibration(graph, 4, seed=9)
    np.testing.assert_array_equal(executor.run_single(loaded, x), executor.run_single(graph, x))


def test_same_graph_same_bytes(tmp_path):
    graph = activation_net()
    first = save_graph(graph, tmp_path / "a.npz").read_bytes()
    assert save_graph(graph, tmp_path / "b.npz").read_bytes() == first


def test_unreadable_file_is_a_user_error(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not an archive")
    with pytest.raises(UserError, match="bad.npz"):
        load_graph(tmp_path / "bad.npz")
    with pytest.raises(UserError, match="does not exist"):
        load_graph(tmp_path / "missing.npz")
