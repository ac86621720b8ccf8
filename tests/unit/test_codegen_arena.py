"""The compile-time arena planner: lifetimes, greedy by size, alignment, in-place sharing."""

import numpy as np

from edgeconv.backends.c import arena, generate
from edgeconv.kernels.packing import im2col_scratch_bytes
from edgeconv.ir import ops
from tests.kernels.qgraphs import GraphBuilder


def overlaps(a, b, plan):
    oa, ob = plan.offsets[a.name], plan.offsets[b.name]
    return oa < ob + b.size and ob < oa + a.size


def test_disjoint_lifetimes_share_bytes_and_live_ones_do_not():
    bufs = [arena.Buffer("a", 100, 0, 1), arena.Buffer("b", 60, 1, 2), arena.Buffer("c", 100, 2, 3),
            arena.Buffer("d", 10, 3, 3)]
    plan = arena.plan(bufs)
    for x in bufs:
        for y in bufs:
            if x is not y and x.overlaps_in_time(y):
                assert not overlaps(x, y, plan), (x.name, y.name)
    assert plan.offsets["a"] == plan.offsets["c"] == 0  # a dies before c is born
    assert plan.size == 176  # c at 0, b at 112 (60 bytes), d at 112 after b is dead
    assert all(off % arena.ALIGNMENT == 0 for off in plan.offsets.values())


def test_random_plans_never_overlap_live_buffers():
    rng = np.random.default_rng(0)
    for _ in range(50):
        bufs = []
        for i in range(rng.integers(1, 15)):
            first = int(rng.integers(0, 10))
            bufs.append(arena.Buffer(f"t{i}", int(rng.integers(1, 500)), first, first + int(rng.integers(0, 4))))
        plan = arena.plan(bufs)
        peak = max(sum(b.size for b in bufs if b.first <= t <= b.last) for t in range(15))
        assert plan.size >= peak
        for x in bufs:
            assert plan.offsets[x.name] + x.size <= plan.size
            for y in bufs:
                if x is not y and x.overlaps_in_time(y):
                    assert not overlaps(x, y, plan)


def test_chain_needs_two_buffers_and_elementwise_runs_in_place(tmp_path):
    """conv -> LUT activation -> conv: the activation writes over its input (no third buffer)."""
    b = GraphBuilder((1, 4, 8, 8), seed=1)
    b.quantize()
    b.conv(8)                      # 512 bytes
    b.lut(ops.LeakyRelu(alpha=0.1))
    b.conv(8)
    b.conv(8)
    b.dequantize()
    project = generate(b.finish(), tmp_path / "c")
    # float input (1024) + int8 input (256) at the start; then two 512-byte buffers alternate;
    # the float output (2048) is written from the last 512-byte buffer.
    assert project.arena_bytes == 2048 + 512
    text = (tmp_path / "c" / "model.c").read_text()
    assert text.count("ec_s8_lut(") == 1


def test_scratch_is_planned_for_im2col(tmp_path):
    b = GraphBuilder((1, 4, 8, 8), seed=2)
    b.quantize()
    b.conv(8, k=(5, 5), pads=(2, 2, 2, 2), algorithm="im2col")  # 25 taps: unfolded row by row
    b.dequantize()
    graph = b.finish()
    project = generate(graph, tmp_path / "c")
    conv = next(n for n in graph.nodes if n.op_name == "Conv")
    scratch = im2col_scratch_bytes(4, 5, 5, 8, 8, 8)
    assert scratch == 8 * 100 + 4  # one output row of 8 patches of 100 bytes, and 4 bytes of slack
    # the quantized input (256), the conv's output (512) and the scratch are live together
    assert project.arena_bytes >= 256 + 512 + scratch
    assert [layer.kernel for layer in project.layers if layer.name == conv.name] == ["ec_s8_conv2d_im2col"]
