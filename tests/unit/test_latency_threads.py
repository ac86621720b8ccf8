"""The latency model at the thread count the C model runs with: per-layer tasks from the kernel's
split, the board's parallel efficiency or the one a measured table shows, the target's threads as
the default everywhere (selection included)."""

import pytest

from edgeconv.errors import UserError
from edgeconv.ir import ops
from edgeconv.select.latency import (
    POOL_HANDOFF_CYCLES, layer_tasks, measured_efficiency, predict_graph_ms, predict_layer_ms,
)
from edgeconv.select.latency_table import LatencyKey, LatencyTable, shape_signature
from edgeconv.targets import load_target
from tests.kernels.qgraphs import GraphBuilder


@pytest.fixture(scope="module")
def rpi4():
    return load_target("rpi4")


def two_layers():
    """A large 3x3 conv (1.8 M MACs, 28 rows) and a small 1x1 on a 2 x 2 map."""
    b = GraphBuilder((1, 16, 28, 28), seed=0)
    b.quantize()
    b.conv(16)
    big = b.g.producer(b.current)
    b.same_quant(ops.MaxPool(kernel=(14, 14), stride=(14, 14)))
    b.conv(8, k=(1, 1), pads=(0, 0, 0, 0))
    small = b.g.producer(b.current)
    return b.finish(), big.name, small.name


def test_a_large_layer_shares_its_compute_and_a_small_one_stays_whole(rpi4):
    graph, big, small = two_layers()
    node, tiny = graph.node(big), graph.node(small)
    assert layer_tasks(graph, node, "ec_s8_conv2d_im2col", 4) == 4
    assert layer_tasks(graph, tiny, "ec_s8_conv2d_1x1", 4) == 1
    one = predict_layer_ms(rpi4, graph, node, "int8", "ec_s8_conv2d_im2col", threads=1)
    four = predict_layer_ms(rpi4, graph, node, "int8", "ec_s8_conv2d_im2col", threads=4)
    assert one / 3.55 < four < one / 2.5  # 1 + 3 * 0.85 = 3.55 on the compute, plus the handoff
    assert predict_layer_ms(rpi4, graph, tiny, "int8", "ec_s8_conv2d_1x1", threads=4) == pytest.approx(
        predict_layer_ms(rpi4, graph, tiny, "int8", "ec_s8_conv2d_1x1", threads=1))
    assert POOL_HANDOFF_CYCLES > 0


def test_the_targets_threads_are_the_default(rpi4):
    graph, _, _ = two_layers()
    four = rpi4.with_threads(None)
    assert four.threads == rpi4.cpu.cores == 4 and rpi4.threads == 1
    assert predict_graph_ms(four, graph).ms == pytest.approx(predict_graph_ms(rpi4, graph, threads=4).ms)
    assert predict_graph_ms(four, graph).ms < predict_graph_ms(rpi4, graph).ms
    for bad in (0, 5, True, 2.0):
        with pytest.raises(UserError, match=r"--threads must be an integer in 1\.\.4"):
            rpi4.with_threads(bad)


def test_a_single_thread_measurement_is_shared_at_the_measured_efficiency(rpi4):
    graph, big, _ = two_layers()
    node = graph.node(big)
    key = LatencyKey("Conv", shape_signature(graph, node), "int8", "ec_s8_conv2d_im2col", 1)
    table = LatencyTable("rpi4", "gcc", "12", "-O2")
    table.add(key, 10.0)
    four = rpi4.with_threads(4)
    board = predict_layer_ms(four, graph, node, table=table)
    assert 10.0 / 3.55 < board < 10.0 / 3.0  # the board's 0.85, plus the handoff
    assert measured_efficiency(table, "ec_s8_conv2d_im2col") is None
    # another shape of the same kernel measured at 1 and 2 threads: 1.5x, an efficiency of 0.5
    other = LatencyKey("Conv", "other", "int8", "ec_s8_conv2d_im2col", 1)
    table.add(other, 3.0)
    table.add(LatencyKey("Conv", "other", "int8", "ec_s8_conv2d_im2col", 2), 2.0)
    assert measured_efficiency(table, "ec_s8_conv2d_im2col") == pytest.approx(0.5)
    measured = predict_layer_ms(four, graph, node, table=table)
    assert 10.0 / 2.5 < measured < 10.0 / 2.4  # 1 + 3 * 0.5
    # a time measured at the layer's own thread count is taken as it is
    table.add(LatencyKey("Conv", key.shape, "int8", "ec_s8_conv2d_im2col", 4), 3.3)
    assert predict_layer_ms(four, graph, node, table=table) == 3.3
