"""The host latency model's own terms: the cache-aware memory term (per-level streaming rates of
the target's caches), the x86 element-wise rates per level, the per-target pool hand-off, and the
fit that produces the figures (``bench/host_fit.py``) on data whose answer is known."""

import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from edgeconv.errors import UserError
from edgeconv.ir import ops
from edgeconv.kernels.registry import kernel
from edgeconv.select.latency import POOL_HANDOFF_CYCLES, element_count, memory_seconds, predict_layer_ms
from edgeconv.targets import load_target, targets_dir
from tests.kernels.qgraphs import GraphBuilder

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from host_fit import Sample, fit_fixed_and_rates  # noqa: E402


@pytest.fixture(scope="module")
def rpi4():
    return load_target("rpi4")


def test_bytes_stream_from_the_smallest_cache_that_holds_them(rpi4):
    host = replace(load_target("host"), caches=replace(
        rpi4.caches, l1d_kib=32, l2_kib=1024, l3_kib=8192,
        l1d_bytes_per_cycle=32.0, l2_bytes_per_cycle=16.0, l3_bytes_per_cycle=8.0))
    clock = host.cpu.clock_ghz * 1e9
    assert memory_seconds(32 * 1024, host) == pytest.approx(32 * 1024 / 32.0 / clock)
    assert memory_seconds(32 * 1024 + 1, host) == pytest.approx((32 * 1024 + 1) / 16.0 / clock)
    assert memory_seconds(2 << 20, host) == pytest.approx((2 << 20) / 8.0 / clock)
    beyond = 9 << 20
    assert memory_seconds(beyond, host) == pytest.approx(beyond / (host.memory.bandwidth_gbs * 1e9))


def test_a_board_without_cache_rates_streams_everything_at_memory_bandwidth(rpi4):
    board = replace(rpi4, caches=replace(rpi4.caches, l1d_bytes_per_cycle=None, l2_bytes_per_cycle=None,
                                         l3_bytes_per_cycle=None))
    assert memory_seconds(1024, board) == pytest.approx(1024 / (board.memory.bandwidth_gbs * 1e9))
    assert memory_seconds(64 << 20, board) == pytest.approx((64 << 20) / (board.memory.bandwidth_gbs * 1e9))
    assert POOL_HANDOFF_CYCLES > 0  # the hand-off of a board whose [latency] does not give one


def test_cache_rates_and_handoff_are_checked_numbers(tmp_path):
    text = (targets_dir() / "host.toml").read_text()
    board = tmp_path / "board.toml"
    board.write_text(re.sub(r"l2_bytes_per_cycle = [0-9.]+", "l2_bytes_per_cycle = -4", text, count=1))
    with pytest.raises(UserError, match="caches.l2_bytes_per_cycle"):
        load_target(board)
    board.write_text(text.replace("[latency]\n", "[latency]\npool_handoff_cycles = 750\n", 1))
    assert load_target(board).latency.pool_handoff_cycles == 750


def test_element_figures_fall_back_to_the_nearest_level_below():
    add = replace(kernel("ec_s8_add"), x86_element={"avx2": 1.5})
    assert add.x86_element_cycles("avx2") == 1.5
    assert add.x86_element_cycles("avx512-vnni") == 1.5
    assert add.x86_element_cycles("sse4.1") is None
    assert add.x86_element_cycles("arm") is None


def _int8_add():
    b = GraphBuilder((1, 16, 8, 8), seed=0)
    x = b.quantize()
    b.conv(16)
    b.binary(ops.Add, x)
    graph = b.finish()
    return graph, next(n for n in graph.nodes if n.op_name == "Add")


def test_an_int8_add_on_an_avx2_board_costs_its_vector_rate(rpi4):
    graph, node = _int8_add()
    host = load_target("host")
    # an x86 board (not the host: its kernel set follows its own features, whatever this CPU is)
    board = replace(host, name="avx2-board", qemu=rpi4.qemu,
                    cpu=replace(host.cpu, features=("sse2", "sse4_1", "popcnt", "avx2", "fma")))
    figure = kernel("ec_s8_add").x86_element_cycles("avx2")
    assert figure is not None
    cycles = element_count(graph, node) * figure + board.latency.layer_overhead_cycles
    assert predict_layer_ms(board, graph, node, threads=1) == pytest.approx(1e3 * cycles / (board.cpu.clock_ghz * 1e9))


def test_the_fit_recovers_a_fixed_cost_and_figures():
    fixed, per_mac, per_output, add = 180.0, 0.04, 3.0, 1.25
    mac, out, elem = ("ec_s8_conv2d_1x1", "avx2", "mac"), ("ec_s8_conv2d_1x1", "avx2", "output"), ("ec_s8_add", "avx2", "element")
    samples = [Sample({mac: m, out: o}, 0.0, fixed + per_mac * m + per_output * o)
               for m, o in ((4096, 256), (1 << 20, 8192), (1 << 24, 50176))]
    samples += [Sample({elem: n}, 0.0, fixed + add * n) for n in (64, 1024, 50176)]
    samples += [Sample({}, known, fixed + known) for known in (500.0, 20000.0)]
    samples.append(Sample({}, 9000.0, 12 * fixed + 9000.0, 12))  # a whole model of 12 layers
    got_fixed, figures = fit_fixed_and_rates(samples)
    assert got_fixed == pytest.approx(fixed, rel=1e-6)
    assert figures == pytest.approx({mac: per_mac, out: per_output, elem: add}, rel=1e-6)


def test_the_fit_recovers_edge_and_call_figures_whatever_each_layer_weighs():
    """Layers weighed by their model's time as well as their own (``run_cycles``): exact data is
    still fitted exactly, the per-call figure apart from the fixed cost of every layer."""
    fixed, per_mac, per_edge, per_call, add = 90.0, 0.02, 60.0, 400.0, 1.5
    mac, edge, call = (("ec_s8_conv2d_im2col", "avx512-vnni", term) for term in ("mac", "edge", "call"))
    elem = ("ec_s8_add", "avx512-vnni", "element")
    samples = [Sample({mac: m, edge: e, call: 1}, 0.0, fixed + per_mac * m + per_edge * e + per_call, run_cycles=r)
               for m, e, r in ((4096, 16, 2e4), (1 << 20, 64, 1e6), (1 << 22, 448, 1e7), (1 << 16, 0, 5e5))]
    samples += [Sample({elem: n}, 0.0, fixed + add * n, run_cycles=1e6) for n in (64, 1024, 50176)]
    got_fixed, figures = fit_fixed_and_rates(samples)
    assert got_fixed == pytest.approx(fixed, rel=1e-6)
    assert figures == pytest.approx({mac: per_mac, edge: per_edge, call: per_call, elem: add}, rel=1e-6)


def test_only_the_int8_im2col_kernel_prices_edge_positions():
    from edgeconv.kernels.geometry import LayerGeometry
    from edgeconv.kernels.packing import im2col_edge_positions
    from edgeconv.select.latency import edge_positions

    geo = LayerGeometry("Conv", 16, 16, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (32, 32), (32, 32), True)
    assert edge_positions(kernel("ec_s8_conv2d_im2col"), geo) == im2col_edge_positions(geo) == 2 * 32
    assert edge_positions(kernel("ec_f32_conv2d_im2col"), geo) == 0
    assert edge_positions(kernel("ec_s8_conv2d_1x1"), geo) == 0
