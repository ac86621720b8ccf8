"""Latency model: the analytical roofline per layer, measured tables, sums over the model, warnings."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgeconv.errors import UserError
from edgeconv.ir import Graph, Node, Tensor, verify
from edgeconv.ir.ops import Clip, Conv, GlobalAvgPool, Linear, MaxPool, Reshape
from edgeconv.kernels.arm_work import ArmCost, arm_figures, kernel_terms
from edgeconv.kernels.geometry import LayerGeometry, geometry
from edgeconv.kernels.registry import BY_NAME, costed_kernels
from edgeconv.quant.precision import parse_precision
from edgeconv.select.candidates import variants_for, weight_bytes
from edgeconv.select.latency import (
    ANALYTICAL, MEASURED, compute_seconds, fastest_algorithm, kernel_implementation, kernel_throughput, memory_seconds,
    predict_graph_ms, predict_layer, predict_layer_ms, predict_layers, warnings_for,
)
from edgeconv.select.latency_table import (
    LatencyKey, LatencyTable, load_table, save_table, shape_signature, timing_precision, user_table, user_table_path,
)
from edgeconv.resources import kernels_dir
from edgeconv.targets import load_target

RNG = np.random.default_rng(7)


def conv_net(c=16, hw=32, depthwise=True) -> Graph:
    """x(1,3,hw,hw) -> conv3x3(c) relu -> [dw3x3] -> conv1x1(2c) -> maxpool -> gap -> reshape -> linear(10)."""
    g = Graph(name="net")
    g.add_tensor(Tensor("x", (1, 3, hw, hw)))
    g.inputs = ["x"]

    def const(name, shape):
        g.add_tensor(Tensor(name, shape, data=RNG.normal(size=shape).astype(np.float32)))
        return name

    def node(name, op, inputs, shape):
        g.add_tensor(Tensor(name + ":out", shape))
        g.add_node(Node(name, op, inputs, name + ":out"))
        return name + ":out"

    y = node("conv1", Conv(pads=(1, 1, 1, 1)), ["x", const("w1", (c, 3, 3, 3)), const("b1", (c,))], (1, c, hw, hw))
    y = node("relu1", Clip(0.0, None), [y], (1, c, hw, hw))
    if depthwise:
        y = node("dw", Conv(pads=(1, 1, 1, 1), groups=c), [y, const("wdw", (c, 1, 3, 3)), None], (1, c, hw, hw))
    y = node("pw", Conv(pads=(0, 0, 0, 0)), [y, const("wpw", (2 * c, c, 1, 1)), const("bpw", (2 * c,))], (1, 2 * c, hw, hw))
    y = node("pool", MaxPool(), [y], (1, 2 * c, hw // 2, hw // 2))
    y = node("gap", GlobalAvgPool(), [y], (1, 2 * c, 1, 1))
    y = node("flat", Reshape((-1,)), [y], (1, 2 * c))
    y = node("fc", Linear(), [y, const("wfc", (10, 2 * c)), const("bfc", (10,))], (1, 10))
    g.outputs = [y]
    return verify(g)


@pytest.fixture(scope="module")
def rpi4():
    return load_target("rpi4")


def test_conv_roofline_by_hand(rpi4):
    g = conv_net()
    conv1 = g.node("conv1")
    geo = geometry(g, conv1)
    macs = 16 * 32 * 32 * 3 * 3 * 3                       # C_out * H * W * C_in * K * K
    assert geo.macs == macs
    kernel = BY_NAME["ec_s8_conv2d_slidingwin"]
    int8 = parse_precision("int8")
    # NEON version on the A72: its fitted ARM figures, per MAC and per output (kernels/arm_work.py)
    simd_s = compute_seconds(rpi4, geo, int8, kernel, implementation="simd")
    neon = kernel.cost.arm["arm"]
    simd_cycles = neon.mac * macs + neon.output * 16 * 32 * 32 + neon.call
    assert simd_s == pytest.approx(simd_cycles / 1.5e9, rel=1e-12)
    # portable version: measured cycles per MAC and per output, scaled for the A72
    portable_s = compute_seconds(rpi4, geo, int8, kernel, implementation="portable")
    cycles = kernel.cost.portable.cycles_per_mac * macs + kernel.cost.portable.cycles_per_output * 16 * 32 * 32
    assert portable_s == pytest.approx(cycles * 1.5 / 1.5e9, rel=1e-12)
    assert compute_seconds(rpi4, geo, int8, kernel, tasks=3, implementation="portable") == pytest.approx(portable_s / 2.7)
    # the layer: max(compute, memory), plus the target's per-layer overhead only for a kernel
    # whose figures do not carry its call (the NEON version's ARM figures do)
    compute_s = compute_seconds(rpi4, geo, int8, kernel)
    assert compute_s == simd_s
    bytes_moved = 3 * 32 * 32 + 16 * 32 * 32 + 16 * 27 + 16 * (4 + 8)
    expected = 1e3 * max(compute_s, memory_seconds(bytes_moved, rpi4))
    assert predict_layer_ms(rpi4, g, conv1, "int8", "ec_s8_conv2d_slidingwin") == pytest.approx(expected, rel=1e-12)


def test_a_board_takes_the_figures_fitted_on_its_core_else_its_levels():
    # the registry's lookup: the board's own key where the kernel has figures under it, else the level's
    own, level = ArmCost(0.5, 0, 0, 1, 0, 0, 0), ArmCost(0.1, 0, 0, 1, 0, 0, 0)
    by_key = {"arm": level, "arm@cortex-a53": own}
    assert arm_figures(by_key, "arm", "arm@cortex-a53") is own
    assert arm_figures(by_key, "arm", "arm@cortex-a55") is level and arm_figures(by_key, "arm") is level
    assert arm_figures({}, "arm", "arm@cortex-a53") is None
    bitserial = BY_NAME["ec_s8_conv2d_bitserial"].cost  # no NEON figures at all: its SimdCost
    assert bitserial.simd_cost("arm", "arm@cortex-a53") is bitserial.simd
    # the latency model on the Zero 2 W: the Cortex-A53 figures its TOML names, the A72's without them
    zero = load_target("rpi-zero2w")
    g = conv_net(c=64)
    pw, geo, int8 = g.node("pw"), geometry(g, g.node("pw")), parse_precision("int8")
    kernel = BY_NAME["ec_s8_conv2d_1x1"]
    a53 = kernel.cost.arm[zero.latency.arm_figures]
    terms = kernel_terms(kernel.name, geo, "arm", True, 0)
    assert compute_seconds(zero, geo, int8, kernel) == pytest.approx(a53.cycles(terms) / 1e9, rel=1e-12)
    unfitted = replace(zero, latency=replace(zero.latency, arm_figures="arm@cortex-a55"))
    a72 = kernel.cost.arm["arm"]
    assert compute_seconds(unfitted, geo, int8, kernel) == pytest.approx(a72.cycles(terms) / 1e9, rel=1e-12)
    assert predict_layer_ms(zero, g, pw, "int8", "ec_s8_conv2d_1x1") != predict_layer_ms(
        unfitted, g, pw, "int8", "ec_s8_conv2d_1x1")
    # an int8 op without MACs the same way
    table = BY_NAME["ec_s8_lut"]
    assert table.arm_element_cost("arm", zero.latency.arm_figures) is table.arm_element["arm@cortex-a53"]
    assert table.arm_element_cost("arm", "arm@cortex-a55") is table.arm_element["arm"]


def test_fp32_layers_on_an_arm_board_cost_their_kernels_fitted_walk(rpi4):
    # the NEON fp32 GEMM and depthwise kernels and the portable fp32 fully connected kernel (no
    # NEON version: its fitted figures are those of its C built for the board) are priced by the
    # events of their walk; their figures carry the call, so no per-layer overhead is added
    g, fp32 = conv_net(c=24), parse_precision("fp32")
    for layer, name in (("conv1", "ec_f32_conv2d_im2col"), ("dw", "ec_f32_dwconv2d"), ("pw", "ec_f32_conv2d_1x1"),
                        ("fc", "ec_f32_fully_connected")):
        geo, kernel = geometry(g, g.node(layer)), BY_NAME[name]
        cycles = kernel.cost.arm["arm"].cycles(kernel_terms(name, geo, "arm", True, 0))
        assert compute_seconds(rpi4, geo, fp32, kernel) == pytest.approx(cycles / 1.5e9, rel=1e-12)
        traffic = 4 * (geo.in_numel + geo.out_numel) + weight_bytes(geo, fp32, kernel)
        assert predict_layer_ms(rpi4, g, g.node(layer), "fp32", name, threads=1) == pytest.approx(
            1e3 * max(cycles / 1.5e9, memory_seconds(traffic, rpi4)), rel=1e-12)
    # asked for the portable version of a kernel that has a NEON one: the measured portable figures
    geo, kernel = geometry(g, g.node("pw")), BY_NAME["ec_f32_conv2d_1x1"]
    portable = kernel.cost.portable.cycles_per_mac * geo.macs + kernel.cost.portable.cycles_per_output * geo.out_numel
    assert compute_seconds(rpi4, geo, fp32, kernel, implementation="portable") == pytest.approx(
        portable * rpi4.latency.portable_cycle_scale / 1.5e9, rel=1e-12)


def test_portable_figures_are_the_measured_ones():
    # bench/bench_latency_model.py --kernels (x86-64 build machine, gcc -O2): binary kernels do
    # many MACs per cycle; int8 kernels cost about as much per MAC as fp32 ones in portable C.
    cost = {k.name: k.cost.portable for k in costed_kernels()}
    assert cost["ec_b1_conv2d_xnor"].cycles_per_mac < 0.1 < cost["ec_s8_conv2d_1x1"].cycles_per_mac
    assert all(c.cycles_per_mac > 0 and c.cycles_per_output >= 0 for c in cost.values())


@pytest.mark.parametrize("implementation", ["portable", "simd"])
def test_precisions_order_as_the_kernels_say(rpi4, implementation):
    # 3x3 conv, 128 -> 128 channels on 16x16: 1152 products per output
    geo = LayerGeometry("Conv", 128, 128, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), (16, 16), (16, 16), True)

    def seconds(precision, kernel):
        return compute_seconds(rpi4, geo, parse_precision(precision), BY_NAME[kernel], implementation=implementation)

    xnor = seconds("w1a1", "ec_b1_conv2d_xnor")
    int8 = seconds("int8", "ec_s8_conv2d_slidingwin")
    fp32 = seconds("fp32", "ec_f32_conv2d_direct")
    assert xnor < int8 and xnor < fp32
    assert seconds("w4a4", "ec_s8_conv2d_bitserial") > seconds("w2a2", "ec_s8_conv2d_bitserial")  # 16 vs 4 passes
    if implementation == "simd":
        assert int8 < fp32
        assert seconds("w4a4", "ec_s8_conv2d_bitserial") > int8  # 16 popcount passes per MAC lose on the A72
    else:
        assert int8 > fp32  # measured: the portable int8 loop costs more per MAC than the float one


def test_prediction_follows_the_kernel_each_layer_runs(rpi4):
    g = conv_net(c=64, hw=32)
    pw = g.node("pw")
    int8 = predict_layer_ms(rpi4, g, pw, "int8", "ec_s8_conv2d_1x1")
    # A DoReFa layer on an int8 kernel runs at int8 speed.
    assert predict_layer_ms(rpi4, g, pw, "w4a4", "ec_s8_conv2d_1x1") == int8
    assert predict_layer_ms(rpi4, g, pw, "w4a4", "ec_s8_conv2d_bitserial") > predict_layer_ms(
        rpi4, g, pw, "w2a2", "ec_s8_conv2d_bitserial")
    assert fastest_algorithm(rpi4, g, g.node("dw"), "int8") in ("ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic")
    kernel = BY_NAME["ec_s8_conv2d_1x1"]
    isa_file = Path(kernels_dir()) / "arm" / "ec_s8_conv2d_1x1.c"
    assert kernel_implementation(kernel, rpi4) == ("simd" if isa_file.is_file() else "portable")


def test_faster_board_and_more_threads_predict_less(rpi4):
    g = conv_net(c=64)
    pw = g.node("pw")
    one = predict_layer_ms(rpi4, g, pw, "int8", "ec_s8_conv2d_1x1")
    four = predict_layer_ms(rpi4, g, pw, "int8", "ec_s8_conv2d_1x1", threads=4)
    assert four < one
    assert predict_layer_ms(load_target("rpi5"), g, pw, "int8", "ec_s8_conv2d_1x1") < one
    assert predict_layer_ms(load_target("rpi-zero2w"), g, pw, "int8", "ec_s8_conv2d_1x1") > one
    with pytest.raises(UserError, match="threads must be 1..4"):
        predict_layer_ms(rpi4, g, pw, "int8", threads=5)


def test_ops_without_macs_cost_bytes_or_element_cycles(rpi4, monkeypatch):
    g = conv_net(c=16, hw=32)
    relu = g.node("relu1")
    n = 16 * 32 * 32
    fp32 = predict_layer_ms(rpi4, g, relu)                 # float tensors: 4 bytes each
    int8 = predict_layer_ms(rpi4, g, relu, "int8")
    overhead_ms = 1e3 * rpi4.latency.layer_overhead_cycles / 1.5e9
    # the memory term streams the bytes from the cache holding them (rpi4: L1 and L2 at 16 bytes a cycle)
    assert memory_seconds(8 * n, rpi4) == pytest.approx(8 * n / 16 / 1.5e9)
    assert memory_seconds(2 * 1024 * 1024, rpi4) == pytest.approx(2 * 1024 * 1024 / 5.5e9)  # beyond L2: DRAM
    # on an ARM board each dtype's kernel has fitted figures (cycles per element, per call), which
    # carry the op's call: no separate overhead. fp32: the float activations' kernel
    act = BY_NAME["ec_f32_activation"].arm_element["arm"]
    assert fp32 == pytest.approx(1e3 * max((act.cycles * n + act.call) / 1.5e9, memory_seconds(8 * n, rpi4)))
    # int8: the lookup-table kernel
    table = BY_NAME["ec_s8_lut"].arm_element["arm"]
    assert int8 == pytest.approx(1e3 * max((table.cycles * n + table.call) / 1.5e9, memory_seconds(2 * n, rpi4)))
    # a kernel without ARM figures costs the scalar loop's cycles per element, and the overhead
    monkeypatch.delitem(BY_NAME["ec_f32_activation"].arm_element, "arm")
    scalar = predict_layer_ms(rpi4, g, relu)
    assert scalar == pytest.approx(1e3 * max(n / 1.5e9, memory_seconds(8 * n, rpi4)) + overhead_ms)
    assert predict_layer_ms(rpi4, g, g.node("flat")) == 0.0


def test_wrong_kernel_for_layer_is_refused(rpi4):
    g = conv_net()
    with pytest.raises(UserError, match="cannot run layer dw"):
        predict_layer_ms(rpi4, g, g.node("dw"), "int8", "ec_s8_conv2d_1x1")
    with pytest.raises(UserError, match="unknown kernel variant"):
        predict_layer_ms(rpi4, g, g.node("conv1"), "int8", "ec_s8_conv2d_winograd")
    with pytest.raises(UserError, match="unknown precision"):
        predict_layer_ms(rpi4, g, g.node("conv1"), "int4")


def test_graph_prediction_is_the_sum_of_layers(rpi4):
    g = conv_net()
    layers = predict_layers(rpi4, g)
    ms, source = predict_graph_ms(rpi4, g)
    assert source == ANALYTICAL
    assert ms == pytest.approx(sum(p.ms for p in layers))
    assert [p.name for p in layers] == [n.name for n in g.nodes]


def _measured_table(target, g, skip=()):
    table = LatencyTable(target.name, target.description, "2026-11-21T00:00:00Z", "gcc 12.2.0", target.toolchain.cflags)
    for i, p in enumerate(predict_layers(target, g)):
        node = g.node(p.name)
        if p.name in skip or node.op_name == "Reshape":
            continue
        precision = timing_precision(p.precision, p.algorithm) if p.algorithm else "fp32"
        table.add(LatencyKey(node.op_name, shape_signature(g, node), precision, p.algorithm), 0.5 + i)
    return table


def test_measured_table_replaces_the_model_when_it_covers_every_layer(rpi4, tmp_path):
    g = conv_net()
    path = save_table(_measured_table(rpi4, g), tmp_path / "rpi4.json")
    table = load_table(path)
    ms, source = predict_graph_ms(rpi4, g, table)
    assert source == MEASURED
    expected = sum(0.5 + i for i, n in enumerate(g.nodes) if n.op_name != "Reshape")
    assert ms == pytest.approx(expected)


def test_partly_covered_model_is_analytical_but_uses_measured_layers(rpi4):
    g = conv_net()
    table = _measured_table(rpi4, g, skip=("pw",))
    layers = predict_layers(rpi4, g, table)
    by_name = {p.name: p for p in layers}
    assert by_name["pw"].source == ANALYTICAL and by_name["conv1"].source == MEASURED
    ms, source = predict_graph_ms(rpi4, g, table)
    assert source == ANALYTICAL
    assert ms == pytest.approx(sum(p.ms for p in layers))
    assert by_name["pw"].ms == predict_layer_ms(rpi4, g, g.node("pw"))


def test_dorefa_layer_on_int8_kernel_uses_the_int8_measurement(rpi4):
    g = conv_net()
    node = g.node("pw")
    table = LatencyTable("rpi4", "b", "d", "c")
    table.add(LatencyKey("Conv", shape_signature(g, node), "int8", "ec_s8_conv2d_1x1"), 0.123)
    p = predict_layer(rpi4, g, node, "w2a4", "ec_s8_conv2d_1x1", table=table)
    assert (p.ms, p.source) == (0.123, MEASURED)
    assert predict_layer(rpi4, g, node, "w2a4", "ec_s8_conv2d_bitserial", table=table).source == ANALYTICAL


def test_shape_signature_names_shapes_and_timing_attributes():
    g = conv_net()
    sig = shape_signature(g, g.node("conv1"))
    assert sig == "x=1x3x32x32;w=16x3x3x3;dilation=1,1;groups=1;pads=1,1,1,1;stride=1,1"
    assert "clamp" not in shape_signature(g, g.node("fc"))


def test_table_round_trip_and_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECONV_CACHE_DIR", str(tmp_path / "cache"))
    assert user_table_path("rpi4") == tmp_path / "cache" / "tables" / "rpi4.json"
    assert user_table("rpi4") is None
    table = LatencyTable("rpi4", "Raspberry Pi 4", "2026-11-21T00:00:00Z", "gcc", ("-O2",))
    table.add(LatencyKey("Clip", "x=1x8", "int8", None, 2), 0.01)
    save_table(table, user_table_path("rpi4"))
    again = user_table("rpi4")
    assert again.entries == table.entries and again.compiler == "gcc" and again.cflags == ("-O2",)


def test_new_profile_updates_the_board_table_and_keeps_other_measurements():
    older = LatencyTable("rpi4", "b", "d1", "gcc 12", ("-O2",))
    older.add(LatencyKey("Clip", "x=1x8", "int8", None), 0.01)
    older.add(LatencyKey("Clip", "x=1x16", "int8", None), 0.02)
    newer = LatencyTable("rpi4", "b", "d2", "gcc 12", ("-O2",))
    newer.add(LatencyKey("Clip", "x=1x16", "int8", None), 0.03)
    newer.add(LatencyKey("Add", "x=1x8;x1=1x8", "int8", None), 0.04)

    merged = newer.merged_into(older)
    assert merged.entries == {LatencyKey("Clip", "x=1x8", "int8", None): 0.01,
                              LatencyKey("Clip", "x=1x16", "int8", None): 0.03,
                              LatencyKey("Add", "x=1x8;x1=1x8", "int8", None): 0.04}
    assert merged.date == "d2"
    other_compiler = LatencyTable("rpi4", "b", "d0", "clang 16", ("-O2",), dict(older.entries))
    assert newer.merged_into(other_compiler).entries == newer.entries
    other_board = LatencyTable("rpi5", "b", "d0", "gcc 12", ("-O2",), dict(older.entries))
    assert newer.merged_into(other_board).entries == newer.entries


@pytest.mark.parametrize("mutate,named", [
    (lambda d: d.update(format="other"), "key format"),
    (lambda d: d.update(version=7), "key version"),
    (lambda d: d.pop("board"), "key board"),
    (lambda d: d["entries"][0].update(ms=-1), "entries[0]: key ms"),
    (lambda d: d["entries"][0].update(threads=0), "entries[0]: key threads"),
    (lambda d: d["entries"][0].pop("op"), "entries[0]: key op"),
])
def test_malformed_table_names_file_and_key(tmp_path, mutate, named):
    table = LatencyTable("rpi4", "b", "d", "c")
    table.add(LatencyKey("Clip", "x=1x8", "int8", None), 0.01)
    data = table.to_json()
    mutate(data)
    path = tmp_path / "lut.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError) as err:
        load_table(path)
    assert str(path) in str(err.value) and named in str(err.value)
    path.write_text("{not json")
    with pytest.raises(UserError, match="not a readable JSON"):
        load_table(path)


def test_warnings_where_a_cheaper_precision_is_slower():
    rpi4 = load_target("rpi4")
    simd = warnings_for(rpi4, ["fp32", "int8", "w4a4", "w2a2", "w1a1"], implementation="simd")
    assert any("w4a4" in w for w in simd) and all("no faster than int8" in w for w in simd)
    assert not any("w1a1" in w for w in simd)  # the XNOR kernel stays far above int8's rate
    rpi5 = load_target("rpi5")  # SDOT makes int8 fast: even w2a2 bit-serial loses there
    assert any("w2a2" in w for w in warnings_for(rpi5, ["w2a2"], implementation="simd"))
    # Portable C: the int8 GEMM costs more cycles per MAC than the float direct conv.
    portable = warnings_for(rpi4, ["int8", "w1a1"], implementation="portable")
    assert len(portable) == 1 and "int8 is not faster" in portable[0]
    # As built: a precision is named exactly when its conv kernel is no faster than int8's.
    built = warnings_for(rpi4, ["w4a4", "w2a2", "w1a1"])
    int8_rate = kernel_throughput(rpi4, "int8", "ec_s8_conv2d_im2col")
    for name, kernel in (("w4a4", "ec_s8_conv2d_bitserial"), ("w2a2", "ec_s8_conv2d_bitserial"), ("w1a1", "ec_b1_conv2d_xnor")):
        assert any(name in w for w in built) == (kernel_throughput(rpi4, name, kernel) <= int8_rate)


def test_variant_table_covers_the_kernel_names():
    assert {k.name for k in costed_kernels()} == {
        "ec_s8_conv2d_slidingwin", "ec_s8_conv2d_im2col", "ec_s8_conv2d_1x1", "ec_s8_dwconv2d_3x3",
        "ec_s8_dwconv2d_generic", "ec_b1_conv2d_xnor", "ec_s8_conv2d_bitserial", "ec_s8_fully_connected",
        "ec_f32_conv2d_direct", "ec_f32_conv2d_1x1", "ec_f32_conv2d_im2col", "ec_f32_dwconv2d", "ec_f32_fully_connected",
        "ec_s8_conv_transpose2d", "ec_f32_conv_transpose2d",
    }
    for kernel in costed_kernels():
        op = "Linear" if "fully_connected" in kernel.name else "ConvTranspose" if "transpose" in kernel.name else "Conv"
        assert kernel.op == op
        assert (Path(kernels_dir()) / "portable" / f"{kernel.name}.c").is_file(), kernel.name
    assert parse_precision("w1a1").kind == "xnor" and parse_precision("w2a8").act_bits == 8
    g = conv_net()
    # bit-serial takes weights of at most 4 bits; the 1x1 GEMM no padding or stride
    assert "ec_s8_conv2d_bitserial" not in [v.name for v in variants_for(geometry(g, g.node("pw")), parse_precision("w5a5"))]
    assert "ec_s8_conv2d_1x1" not in [v.name for v in variants_for(geometry(g, g.node("conv1")), parse_precision("int8"))]
    with pytest.raises(UserError):
        parse_precision("w8a8x")


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_a_pointwise_layer_is_offered_the_1x1_kernel_and_not_the_im2col_one(precision):
    """The im2col figures are fitted on windowed layers: a pointwise layer (1x1, stride 1, no
    padding) is the 1x1 kernel's, a strided 1x1 layer still the im2col kernel's."""
    spec = parse_precision(precision)
    kind = "s8" if precision == "int8" else "f32"
    pointwise = LayerGeometry("Conv", 24, 144, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), (56, 56), (56, 56), True)
    strided = replace(pointwise, stride=(2, 2), out_spatial=(28, 28))
    names = {k.name for k in variants_for(pointwise, spec)}
    assert f"ec_{kind}_conv2d_1x1" in names and f"ec_{kind}_conv2d_im2col" not in names
    assert f"ec_{kind}_conv2d_im2col" in {k.name for k in variants_for(strided, spec)}
