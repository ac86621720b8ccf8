"""Transpose, Slice (channel shuffle, chunk / split / narrow) and ResizeNearest on every backend,
one small graph each: the int8 codes they move equal the reference executor's byte for byte on TFLite Micro,
LiteRT, ONNX Runtime and the generated C; inside a quantized convnet TFLite Micro and the C stay
bit-exact; in float every runtime is within the float tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from edgeconv.backends.c.permute import stored_permutation
from edgeconv.backends.onnx import write_onnx
from edgeconv.backends.tflite import to_channels_first
from edgeconv.ir import QuantParams, ops
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.reference import executor
from edgeconv.runtimes import litert, tflm
from edgeconv.runtimes import onnxruntime as ort_adapter
from tests.kernels.qgraphs import GraphBuilder as QGraphBuilder
from tests.unit.test_codegen import check_exact
from tests.unit.test_tflite_writer import (FLOAT_RTOL, GraphBuilder, assert_tflm_exact, calibration,
                                           tflite_feeds_and_reference, write)


def shuffle_ops(channels: int, height: int, width: int, groups: int = 2) -> list:
    """ShuffleNet's channel shuffle as torch.export reads it: view, transpose, flatten."""
    return [ops.Reshape((groups, channels // groups, height, width)), ops.Transpose((0, 2, 1, 3, 4)),
            ops.Reshape((channels, height, width))]


def moves_only() -> object:
    """int8 codes through a channel shuffle, two channel slices concatenated in swapped order, a
    spatial transpose, a slice along the width and a nearest upsampling: every value moves, none
    changes."""
    b = QGraphBuilder((1, 6, 5, 4), seed=3)
    b.quantize(scale=1 / 50, zp=-7)
    for op in shuffle_ops(6, 5, 4):
        b.same_quant(op)
    shuffled = b.current
    left = b.same_quant(ops.Slice(axis=1, start=0, end=2))
    b.current = shuffled
    right = b.same_quant(ops.Slice(axis=1, start=2, end=6))
    b.add_node(ops.Concat(axis=1), [right, left], quant=b.g.tensors[shuffled].quant)
    b.same_quant(ops.Transpose((0, 1, 3, 2)))
    b.same_quant(ops.Slice(axis=3, start=1, end=4))
    b.same_quant(ops.ResizeNearest(size=(8, 9)))
    b.dequantize()
    return b.finish()


def shuffle_net(seed: int = 5):
    """A float convnet with ShuffleNetV2's unit: split, branch, concatenate, shuffle; then a spatial
    transpose, a slice of rows and a nearest upsampling."""
    g = GraphBuilder((1, 3, 7, 6), seed)
    trunk = g.conv(8)
    kept = g.node(ops.Slice(axis=1, start=0, end=4), [trunk])
    g.node(ops.Slice(axis=1, start=4, end=8), [trunk])
    g.conv(4, k=1, pads=(0, 0, 0, 0))
    g.conv(4, groups=4, clamp=(None, None))
    g.node(ops.Concat(axis=1), [kept, g.current])
    for op in shuffle_ops(8, 7, 6):
        g.node(op)
    g.node(ops.Transpose((0, 1, 3, 2)))
    g.node(ops.Slice(axis=2, start=1, end=5))
    g.node(ops.ResizeNearest(size=(8, 14)))
    g.conv(6, stride=2)
    g.node(ops.GlobalAvgPool())
    g.node(ops.Reshape((-1,)))
    g.linear(5)
    return g.finish()


def _inputs(graph, n: int = 5) -> np.ndarray:
    return calibration(graph, n, seed=13)


def test_stored_permutation_follows_the_channels_last_layout():
    # (N, C, H, W) stored H, W, C; swapping H and W swaps the first two stored dims.
    assert stored_permutation((0, 1, 3, 2)) == [1, 0, 2]
    # (N, 2, k, H, W) stored k, H, W, 2 -> (N, k, 2, H, W) stored 2, H, W, k.
    assert stored_permutation((0, 2, 1, 3, 4)) == [3, 1, 2, 0]


def test_moves_are_exact_on_every_runtime(tmp_path):
    graph = moves_only()
    x = _inputs(graph, 7)
    reference = executor.run_single(graph, x)
    assert reference.shape == (7, 6, 8, 9)
    feed, codes = tflite_feeds_and_reference(graph, x)  # the .tflite ends at the int8 codes
    assert codes.dtype == np.int8
    path = write(graph, tmp_path)
    for got in (tflm.run(path, feed), litert.run(path, feed, "builtin"), litert.run(path, feed, "xnnpack")):
        np.testing.assert_array_equal(to_channels_first(np.asarray(got)), codes)
    onnx_path = write_onnx(graph, tmp_path / "model.onnx", {})
    np.testing.assert_array_equal(np.asarray(ort_adapter.run(onnx_path, x)), reference)
    check_exact(graph, tmp_path, x)


def test_quantized_shuffle_net_is_bit_exact_on_tflm_and_c(tmp_path):
    float_graph = shuffle_net()
    graph = quantize_graph(float_graph, calibration(float_graph), "int8")
    got = assert_tflm_exact(graph, tmp_path)
    assert got.dtype == np.int8
    check_exact(graph, tmp_path, _inputs(graph), sanitize=False)  # the moves alone run under sanitizers above


def test_quantized_shuffle_net_keeps_one_grid_through_the_moves():
    graph = quantize_graph(shuffle_net(), calibration(shuffle_net()), "int8")
    for node in graph.nodes:
        if isinstance(node.op, (ops.Transpose, ops.Slice)):
            q_in, q_out = graph.tensors[node.inputs[0]].quant, graph.tensors[node.output].quant
            assert isinstance(q_out, QuantParams) and q_in == q_out, node.name


@pytest.mark.parametrize("runtime", ["tflite-micro", "litert", "onnxruntime", "c"])
def test_float_shuffle_net_within_tolerance(tmp_path, runtime):
    graph = shuffle_net()
    x = _inputs(graph)
    reference = executor.run_single(graph, x)
    tolerance = FLOAT_RTOL * max(1.0, float(np.abs(reference).max()))
    if runtime == "tflite-micro":
        assert_tflm_exact(graph, tmp_path)
        return
    if runtime == "c":
        check_exact(graph, tmp_path, x, sanitize=False)
        return
    if runtime == "litert":
        feed, _ = tflite_feeds_and_reference(graph, x)
        got = np.asarray(litert.run(write(graph, tmp_path), feed, "builtin"))
    else:
        got = np.asarray(ort_adapter.run(write_onnx(graph, tmp_path / "model.onnx", {}), x))
    assert np.abs(got - reference).max() <= tolerance


def test_a_concatenation_of_many_inputs_runs_on_tflm(tmp_path):
    """TFLite Micro prepares at most 10 CONCATENATION inputs: 12 are joined in two steps."""
    b = QGraphBuilder((1, 12, 3, 2), seed=4)
    x = b.quantize(scale=1 / 40, zp=5)
    parts = []
    for c in reversed(range(12)):
        b.current = x
        parts.append(b.same_quant(ops.Slice(axis=1, start=c, end=c + 1)))
    b.add_node(ops.Concat(axis=1), parts, quant=b.g.tensors[x].quant)
    b.dequantize()
    graph = b.finish()
    inputs = _inputs(graph, 3)
    feed, codes = tflite_feeds_and_reference(graph, inputs)
    np.testing.assert_array_equal(codes, tflite_feeds_and_reference(graph, inputs)[0].transpose(0, 3, 1, 2)[:, ::-1])
    path = write(graph, tmp_path)
    for got in (tflm.run(path, feed), litert.run(path, feed, "builtin")):
        np.testing.assert_array_equal(to_channels_first(np.asarray(got)), codes)
