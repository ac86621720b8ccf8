"""The kernel registry: one fit test per kernel for the selector and the C lowering, one scratch
size per kernel for the arena, one kernel set per target for the build and the latency model."""

import re

import numpy as np
import pytest

from edgeconv.backends.c import generate
from edgeconv.backends.c.kernel_choice import conv_kernel
from edgeconv.ir import ops
from edgeconv.kernels.geometry import LayerGeometry, geometry
from edgeconv.kernels.isa import (
    X86_AVX2_FLAGS, X86_AVX512_FLAGS, KernelSet, host_kernel_set, kernel_set, target_kernel_set,
)
from edgeconv.kernels.packing import bitplane_scratch_bytes, im2col_scratch_bytes
from edgeconv.kernels.registry import BY_NAME, CONV_ALGORITHMS, KERNELS, headers_for, isas_of, kernel
from edgeconv.errors import UserError
from edgeconv.quant.precision import INT8, parse_precision
from edgeconv.select.candidates import variants_for
from edgeconv.targets import load_target
from tests.kernels.qgraphs import GraphBuilder


def conv_geo(c_in, c_out, groups, k=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1), hw=(8, 8)):
    return LayerGeometry("Conv", c_in, c_out, groups, k, stride, pads, dilation, hw, hw, True)


def names(kernels) -> list:
    return [k.name for k in kernels]


def test_depthwise_fit_follows_what_the_kernels_accept():
    unit = conv_geo(8, 8, 8)
    multiplier_2 = conv_geo(8, 16, 8)
    assert BY_NAME["ec_s8_dwconv2d_3x3"].fits(unit) and not BY_NAME["ec_s8_dwconv2d_3x3"].fits(multiplier_2)
    assert BY_NAME["ec_s8_dwconv2d_generic"].fits(unit) and BY_NAME["ec_s8_dwconv2d_generic"].fits(multiplier_2)
    assert BY_NAME["ec_s8_conv2d_slidingwin"].fits(multiplier_2)  # any groups
    assert not BY_NAME["ec_s8_conv2d_im2col"].fits(unit)
    # the selector offers depthwise layers the depthwise kernels (and fp32's direct conv) only
    assert names(variants_for(unit, INT8)) == ["ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic"]
    assert names(variants_for(multiplier_2, INT8)) == ["ec_s8_dwconv2d_generic"]
    assert names(variants_for(unit, parse_precision("fp32"))) == ["ec_f32_conv2d_direct", "ec_f32_dwconv2d"]
    assert names(variants_for(multiplier_2, parse_precision("fp32"))) == ["ec_f32_conv2d_direct"]
    # grouped but not depthwise: the sliding window only
    assert names(variants_for(conv_geo(8, 8, 2), INT8)) == ["ec_s8_conv2d_slidingwin"]


def test_binary_kernels_fit_ungrouped_convs_at_their_precisions():
    dense = conv_geo(64, 64, 1)
    assert names(variants_for(dense, parse_precision("w1a1"))) == [
        "ec_s8_conv2d_slidingwin", "ec_s8_conv2d_im2col", "ec_b1_conv2d_xnor"]
    assert "ec_s8_conv2d_bitserial" in names(variants_for(dense, parse_precision("w4a4")))
    assert "ec_s8_conv2d_bitserial" not in names(variants_for(dense, parse_precision("w5a5")))


def test_scratch_sizes_are_the_kernels_buffers():
    # im2col unfolds one output row when a window has more than 9 taps
    geo = conv_geo(4, 8, 1, k=(5, 5), pads=(2, 2, 2, 2), hw=(6, 8))
    assert BY_NAME["ec_s8_conv2d_im2col"].scratch(geo, INT8) == im2col_scratch_bytes(4, 5, 5, 6, 8, 8) == 8 * 100 + 4
    assert BY_NAME["ec_s8_conv2d_im2col"].scratch(conv_geo(4, 8, 1), INT8) == 0
    # weights past 1 MiB unfold blocks of rows; a 1-D conv's output is one row of 10 patches
    conv1d = LayerGeometry("Conv", 512, 700, 1, (3,), (1,), (1, 1), (1,), (10,), (10,), True)
    assert BY_NAME["ec_s8_conv2d_im2col"].scratch(conv1d, INT8) == 10 * 1536 + 4
    # binary kernels: bit planes of the window extent (10 x 10 for 8 x 8 outputs of a 3x3 window)
    # and one window of taps, 2 words per position for 40 channels
    geo = conv_geo(40, 8, 1, pads=(0, 0, 0, 0))
    assert geo.window_extent == (10, 10)
    assert BY_NAME["ec_b1_conv2d_xnor"].scratch(geo, parse_precision("w1a1")) == (100 + 9) * 2 * 4
    assert BY_NAME["ec_s8_conv2d_bitserial"].scratch(geo, parse_precision("w2a3")) == (100 + 9) * 3 * 2 * 4
    assert bitplane_scratch_bytes(40, (10, 10), (3, 3), 3) == (100 + 9) * 3 * 2 * 4
    # a 1-D conv is one row of a 1 x k window
    one_d = LayerGeometry("Conv", 32, 8, 1, (3,), (2,), (0, 0), (1,), (21,), (10,), False)
    assert one_d.kernel_hw == (1, 3) and one_d.window_extent == (1, 21)


def test_generated_scratch_is_the_registry_s():
    b = GraphBuilder((1, 3, 6, 8), seed=3)
    b.quantize()
    b.conv(8, k=(5, 5), pads=(2, 2, 2, 2))
    b.dequantize()
    graph = b.finish()
    conv = next(n for n in graph.nodes if n.op_name == "Conv")
    x = graph.tensors[conv.inputs[0]]
    w = graph.tensors[conv.inputs[1]].data.astype(np.int64)
    geo = geometry(graph, conv)
    assert conv_kernel(geo, conv, x, w) == "ec_s8_conv2d_im2col"  # C_in * k_w < 16: the GEMM
    assert BY_NAME["ec_s8_conv2d_im2col"].scratch(geo, INT8) == im2col_scratch_bytes(3, 5, 5, 8, 8, 8) == 8 * 76 + 4


def test_requested_kernels_by_name_or_algorithm():
    assert CONV_ALGORITHMS["depthwise-3x3"] == "ec_s8_dwconv2d_3x3"
    assert CONV_ALGORITHMS["xnor-popcount"] == "ec_b1_conv2d_xnor"
    assert kernel("ec_s8_add").op == "Add"
    with pytest.raises(UserError, match="unknown kernel variant"):
        kernel("ec_s8_conv2d_winograd")
    assert all(isas_of(k.name)[0] == "portable" for k in KERNELS)


def test_kernel_set_rule():
    assert kernel_set("x86_64-linux-gnu", {"sse2"}).isa == "portable"  # the levels: tests/unit/test_x86_levels.py
    assert kernel_set("x86_64-linux-gnu", {"sse4_1", "avx2", "fma", "popcnt"}).flags[:3] == X86_AVX2_FLAGS
    vnni = {"sse4_1", "avx2", "fma", "popcnt", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"}
    no_amx = ("-mno-amx-tile", "-mno-amx-int8")
    assert kernel_set("x86_64-linux-gnu", vnni).flags == X86_AVX2_FLAGS + X86_AVX512_FLAGS + no_amx
    assert kernel_set("x86_64-linux-gnu", vnni | {"avx512vbmi"}).flags[-1] == "-mavx512vbmi"
    assert kernel_set("aarch64-linux-gnu", ()) == KernelSet("arm")
    assert kernel_set("arm-linux-gnueabihf", ()) == KernelSet("arm")
    assert kernel_set("riscv64-linux-gnu", ()) == KernelSet("portable")
    assert target_kernel_set(load_target("rpi4")) == KernelSet("arm")
    assert target_kernel_set(load_target("host")) == host_kernel_set()


def test_generated_project_carries_each_kernel_of_its_set(tmp_path):
    b = GraphBuilder((1, 3, 8, 8), seed=2)
    b.quantize()
    b.conv(16)
    b.conv(16, groups=16)
    b.same_quant(ops.MaxPool(kernel=(2, 2), stride=(2, 2), pads=(0, 0, 0, 0)))
    b.dequantize()
    project = generate(b.finish(), tmp_path / "c")
    for name in project.kernels:
        for isa in isas_of(name):
            assert (tmp_path / "c" / "kernels" / isa / f"{name}.c").is_file(), (name, isa)


def test_project_carries_exactly_the_headers_its_sources_include(tmp_path):
    b = GraphBuilder((1, 3, 8, 8), seed=4)
    b.quantize()
    b.conv(16)
    b.dequantize()
    generate(b.finish(), tmp_path / "c")
    c_dir = tmp_path / "c"
    carried = sorted(p.name for p in (c_dir / "include").iterdir())
    sources = [c_dir / "model.c", *sorted((c_dir / "kernels").rglob("*.c"))]
    assert carried == headers_for(sources)
    included = set()
    for path in [*sources, *(c_dir / "include").iterdir()]:
        included |= set(re.findall(r'#\s*include\s*"(ec_\w+\.h)"', path.read_text()))
    assert included == set(carried)  # self-contained, and nothing it does not include
    assert "ec_b1_xnor.h" not in carried  # an int8 model carries no binary kernel internals


def test_parameter_structs_use_designated_initializers(tmp_path):
    b = GraphBuilder((1, 3, 8, 8), seed=5)
    b.quantize()
    b.conv(8, stride=(2, 2))
    b.dequantize()
    generate(b.finish(), tmp_path / "c")
    text = (tmp_path / "c" / "model.c").read_text()
    window = re.search(r"static const ec_window_t \w+ = \{(.*?)\};", text, re.S).group(1)
    fields = dict(item.strip().lstrip(".").split(" = ") for item in window.replace("\n", " ").split(","))
    assert fields["in_h"] == "8" and fields["out_h"] == "4" and fields["stride_h"] == "2" and fields["groups"] == "1"
    assert len(fields) == 17
