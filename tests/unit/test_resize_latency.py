"""The latency model of a bilinear resize: the vector kernels' figures (``Kernel.x86_element`` at
each x86 level this CPU runs, int8 and float32; ``Kernel.arm_element`` on the ARM boards) take
the place of the portable loop's ``ELEMENT_CYCLES`` where the build runs them."""

from __future__ import annotations

import pytest

from edgeconv.ir import Graph, Node, QuantParams, Tensor, ops
from edgeconv.kernels.isa import LEVEL_ENV, host_x86_levels
from edgeconv.kernels.registry import BY_NAME
from edgeconv.select.latency import ELEMENT_CYCLES, memory_seconds, predict_layer
from edgeconv.targets import load_target

C, H, W = 64, 16, 16


def _resize(dtype: str) -> Graph:
    quant = QuantParams(1 / 64, -3) if dtype == "int8" else None
    g = Graph(name="resize", source_layout="NCHW")
    g.add_tensor(Tensor("x", (1, C, H, W), dtype, quant=quant))
    g.add_tensor(Tensor("y", (1, C, 2 * H, 2 * W), dtype, quant=quant))
    g.add_node(Node("up", ops.ResizeBilinear(size=(2 * H, 2 * W)), ["x"], "y",
                    precision="int8" if dtype == "int8" else "fp32"))
    g.inputs, g.outputs = ["x"], ["y"]
    return g


def _expected_ms(target, graph: Graph, cycles: float, call_carried: bool = False) -> float:
    """max(compute, memory) plus the target's per-layer overhead, unless the kernel's figures
    carry its call (the fitted ARM figures do)."""
    element = 1 if graph.tensors["y"].dtype == "int8" else 4
    traffic = (graph.tensors["x"].numel + graph.tensors["y"].numel) * element
    clock = target.cpu.clock_ghz * 1e9
    overhead = 0 if call_carried else target.latency.layer_overhead_cycles
    return 1e3 * (max(cycles / clock, memory_seconds(traffic, target)) + overhead / clock)


@pytest.mark.parametrize("level", [lv for lv in host_x86_levels() if lv in ("portable", "avx2", "avx512-vnni")])
@pytest.mark.parametrize("dtype, kernel, portable", [("int8", "ec_s8_resize_bilinear", ELEMENT_CYCLES["ResizeBilinear"].int8),
                                                     ("float32", "ec_f32_resize_bilinear", ELEMENT_CYCLES["ResizeBilinear"].fp32)])
def test_host_resize_costs_the_level_s_kernel(monkeypatch, level, dtype, kernel, portable):
    monkeypatch.setenv(LEVEL_ENV, level)
    host, graph = load_target("host"), _resize(dtype)
    figure = BY_NAME[kernel].x86_element_cycles(level) or portable
    if level != "portable":
        assert figure < portable / 4  # the vector kernel, not the scalar loop
    elements = graph.tensors["y"].numel
    got = predict_layer(host, graph, graph.nodes[0], threads=1).ms
    assert got == pytest.approx(_expected_ms(host, graph, elements * figure))


@pytest.mark.parametrize("board, level", [("rpi4", "arm"), ("rpi5", "arm-dotprod")])
def test_arm_int8_resize_costs_the_neon_figure(board, level):
    target, graph = load_target(board), _resize("int8")
    cost = BY_NAME["ec_s8_resize_bilinear"].arm_element[level]
    assert cost.per == "block"
    cycles = cost.cycles * (2 * H) * (2 * W) * (C // 16) + cost.call  # 16-channel blocks per output pixel
    assert predict_layer(target, graph, graph.nodes[0], threads=1).ms == pytest.approx(
        _expected_ms(target, graph, cycles, call_carried=True))
