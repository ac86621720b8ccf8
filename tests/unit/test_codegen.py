"""C code generator end to end: small quantized IR graphs -> generated C -> host build -> runner
output == reference executor output, byte for byte (float ends: within the float tolerance)."""

import json
import subprocess

import numpy as np
import pytest

from edgeconv.backends.c import build_host, generate
from edgeconv.quant.quantizers import sign_threshold
from edgeconv.errors import UserError
from edgeconv.ir import Node, QuantParams, Tensor, ops
from edgeconv.reference import executor
from tests.kernels.qgraphs import GraphBuilder, binary_chain_net, mixed_fp32_net

# -O1: what the sanitizers are meant to run at; at -O2 they triple the compile of the x86 im2col
# kernel (its unrolled register tiles) in every test that has one. The kernel tests compile every
# kernel strictly at -O2 (tests/kernels/cbuild.py), the warnings that need optimization included.
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1", "-Wall", "-Wextra", "-Werror",
            "-pedantic")


def compile_graph(graph, tmp_path, sanitize=False, prefix="ec_model_", profile=False):
    project = generate(graph, tmp_path / "c", prefix=prefix, command_line="edgeconv compress test.pt")
    binary, info = build_host(tmp_path / "c", tmp_path / "edgeconv_run", flags=SANITIZE if sanitize else (),
                              profile=profile)
    return project, binary, info


def run_binary(binary, x, tmp_path, *extra):
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run([str(binary), *extra, str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return np.load(tmp_path / "y.npy")


def check_exact(graph, tmp_path, x, sanitize=True):
    project, binary, _ = compile_graph(graph, tmp_path, sanitize=sanitize)
    got = run_binary(binary, x, tmp_path)
    expected = executor.run_single(graph, x)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    return project


def int8_net() -> GraphBuilder:
    b = GraphBuilder((1, 3, 12, 11), seed=1)
    b.quantize()
    b.conv(8, clamp=(0.0, None))                                   # C_in 3: im2col
    skip = b.current
    b.conv(8, groups=8)                                            # depthwise 3x3
    b.conv(8, k=(1, 1), pads=(0, 0, 0, 0), clamp=(0.0, 6.0))        # 1x1, ReLU6
    b.binary(ops.Add, skip)                                        # residual add
    b.lut(ops.Hardswish())
    b.conv(12, stride=(2, 2))                                      # sliding window 3x3
    b.conv(24, k=(5, 5), stride=(2, 2), pads=(2, 2, 2, 2), groups=12)  # depthwise generic, multiplier 2
    b.same_quant(ops.MaxPool(kernel=(2, 2), stride=(1, 1), pads=(0, 0, 1, 1)))
    b.same_quant(ops.AvgPool(kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1), count_include_pad=False))
    b.add_node(ops.GlobalAvgPool(keepdims=True), [b.current], auto_scale=True)
    b.same_quant(ops.Reshape(shape=(-1,)))
    b.linear(10)
    b.sigmoid_like(ops.Softmax(axis=1))
    b.dequantize()
    return b


@pytest.mark.slow
def test_int8_net_bit_exact_under_sanitizers(tmp_path):
    b = int8_net()
    graph = b.finish()
    x = np.random.default_rng(0).uniform(-1.2, 1.2, size=(7, 3, 12, 11)).astype(np.float32)
    project = check_exact(graph, tmp_path, x)
    kernels = {layer.name: layer.kernel for layer in project.layers}
    assert set(kernels.values()) >= {"ec_s8_conv2d_slidingwin", "ec_s8_dwconv2d_3x3", "ec_s8_conv2d_1x1",
                                     "ec_s8_conv2d_im2col", "ec_s8_dwconv2d_generic", "ec_s8_add", "ec_s8_lut",
                                     "ec_s8_softmax", "ec_s8_global_avgpool", "ec_s8_fully_connected"}
    assert project.arena_bytes >= 3 * 12 * 11 * 4 + 8 * 12 * 11  # float input and a conv output live together
    assert project.weights_bytes > 0


def test_pre_softmax_codes_are_exact(tmp_path):
    """Stop before the softmax so the int8 logits themselves are compared through Dequantize."""
    b = int8_net()
    graph = b.finish()
    logits = graph.nodes[-3].output
    graph.nodes = graph.nodes[:-2]
    deq = graph.unique_name("logits_f")
    graph.add_tensor(Tensor(deq, graph.tensors[logits].shape, "float32"))
    graph.add_node(Node("deq", ops.Dequantize(), [logits], deq))
    graph.outputs = [deq]
    graph.prune()
    x = np.random.default_rng(2).uniform(-1, 1, size=(5, 3, 12, 11)).astype(np.float32)
    check_exact(graph, tmp_path, x, sanitize=False)


def test_w2a2_bitserial_conv_bit_exact(tmp_path):
    b = GraphBuilder((1, 4, 9, 9), seed=3)
    b.quantize()
    b.conv(40, qrange=(-128, -125))               # producer clamps into the 2-bit activation range
    b.conv(24, precision="w2a2", weight_levels=2, qrange=(-128, -125))
    b.conv(8, precision="w2a2", weight_levels=2, stride=(2, 2))
    b.dequantize()
    graph = b.finish()
    x = np.random.default_rng(4).uniform(-1, 1, size=(6, 4, 9, 9)).astype(np.float32)
    project = check_exact(graph, tmp_path, x)
    assert [l.kernel for l in project.layers].count("ec_s8_conv2d_bitserial") == 2


def test_w1a1_xnor_conv_with_sign_and_one_padding_bit_exact(tmp_path):
    b = GraphBuilder((1, 3, 8, 8), seed=5)
    b.quantize()
    b.conv(35)
    b.sign()
    b.same_quant(ops.Pad(pads=(1, 1, 1, 1), value=1.0))
    b.conv(16, pads=(0, 0, 0, 0), precision="w1a1", weight_levels=1)
    b.sign()
    b.same_quant(ops.Pad(pads=(1, 1, 1, 1), value=1.0))
    b.conv(8, pads=(0, 0, 0, 0), stride=(2, 2), precision="w1a1", weight_levels=1)
    b.dequantize()
    graph = b.finish()
    x = np.random.default_rng(6).uniform(-1, 1, size=(6, 3, 8, 8)).astype(np.float32)
    project = check_exact(graph, tmp_path, x)
    kernels = [l.kernel for l in project.layers]
    assert kernels.count("ec_b1_conv2d_xnor") == 2
    assert "ec_s8_pad" not in kernels  # the +1 pads became the convolutions' one-padding
    text = (tmp_path / "c" / "model.c").read_text()
    assert "absorbs" in text


def test_w1a1_xnor_conv_after_a_thresholded_sign_bit_exact(tmp_path):
    """A pooled ReLU output binarized above zero (Sign threshold halfway between grid values)."""
    b = GraphBuilder((1, 5, 8, 8), seed=9)
    b.quantize()
    b.conv(16, clamp=(0.0, None))
    b.same_quant(ops.AvgPool(kernel=(2, 2), stride=(2, 2)))
    scale = float(b.g.tensors[b.current].quant.scale[0])
    b.sign(threshold=sign_threshold(5, scale))
    b.conv(9, k=(1, 1), pads=(0, 0, 0, 0), precision="w1a1", weight_levels=1)
    b.dequantize()
    graph = b.finish()
    x = np.random.default_rng(10).uniform(-1, 1, size=(5, 5, 8, 8)).astype(np.float32)
    project = check_exact(graph, tmp_path, x)
    assert "ec_b1_conv2d_xnor" in [l.kernel for l in project.layers]
    signs = executor.run(graph, {graph.inputs[0]: x}, keep=True)[graph.nodes[3].output]
    assert set(np.unique(signs)) == {-1, 1}


def test_w1a1_binary_layers_pass_packed_bits_bit_exact(tmp_path):
    """XNOR conv -> padded max pool -> Sign -> XNOR conv -> flatten -> Sign -> binary linear: the
    {-1, +1} tensors between binary layers travel as packed words (the pool ANDs them, the Signs
    fold into popcount limits), bit-exact with the reference under ASan and UBSan."""
    graph = binary_chain_net(2, 10)
    x = np.random.default_rng(13).uniform(-1, 1, size=(5, 3, 9, 9)).astype(np.float32)
    project = check_exact(graph, tmp_path, x)
    kernels = [layer.kernel for layer in project.layers]
    assert kernels.count("ec_b1_conv2d_xnor") == 2 and "ec_b1_maxpool2d" in kernels
    assert "ec_b1_fully_connected" in kernels and kernels.count("ec_s8_lut") == 1  # only the first Sign is a table
    text = (tmp_path / "c" / "model.c").read_text()
    assert "EC_B1_OUT_PACKED" in text and "EC_B1_IN_PACKED" in text
    signs = executor.run(graph, {graph.inputs[0]: x}, keep=True)
    for node in graph.nodes:
        if node.op_name == "Sign":
            assert set(np.unique(signs[node.output])) == {-1, 1}, node.name  # no constant bits


def test_w1a1_conv_with_zero_padding_runs_an_int8_kernel(tmp_path):
    """Zero padding of a {-1, +1} input is not the XNOR kernel's +1 padding: an int8 kernel runs it."""
    b = GraphBuilder((1, 4, 6, 6), seed=14)
    b.quantize()
    b.sign()
    b.conv(8, precision="w1a1", weight_levels=1)
    b.dequantize()
    graph = b.finish()
    x = np.random.default_rng(15).uniform(-1, 1, size=(3, 4, 6, 6)).astype(np.float32)
    project = check_exact(graph, tmp_path, x, sanitize=False)
    assert "ec_b1_conv2d_xnor" not in [layer.kernel for layer in project.layers]


def test_mixed_fp32_layer_within_float_tolerance(tmp_path):
    graph = mixed_fp32_net(6, 6)
    x = np.random.default_rng(8).uniform(-1, 1, size=(4, 2, 6, 6)).astype(np.float32)
    _, binary, _ = compile_graph(graph, tmp_path)
    got = run_binary(binary, x, tmp_path)
    expected = executor.run_single(graph, x)
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_int8_table_bit_exact_and_float_within_tolerance(tmp_path, approximate):
    """int8 Gelu runs the reference's 256-entry table (byte for byte); float Gelu runs
    ec_f32_activation's erff / tanhf formula (within the float tolerance)."""
    b = GraphBuilder((1, 3, 7, 6), seed=21)
    b.quantize()
    b.conv(6)
    b.lut(ops.Gelu(approximate=approximate))
    int8_graph = b.finish()
    x = np.random.default_rng(22).uniform(-1, 1, size=(3, 3, 7, 6)).astype(np.float32)
    check_exact(int8_graph, tmp_path / "int8", x, sanitize=False)

    b.dequantize()
    b.add_node(ops.Gelu(approximate=approximate), [b.current], dtype="float32", precision="fp32")
    float_graph = b.finish()
    wide = np.random.default_rng(23).uniform(-4, 4, size=(3, 3, 7, 6)).astype(np.float32)
    _, binary, _ = compile_graph(float_graph, tmp_path / "float")
    got = run_binary(binary, wide, tmp_path / "float")
    expected = executor.run_single(float_graph, wide)
    assert np.abs(got - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())


def test_nhwc_int8_model_ends_and_concat(tmp_path):
    """An imported-TFLite-like model: int8 NHWC input and output, a channel concat and a flatten."""
    b = GraphBuilder((1, 4, 5, 6), seed=9, layout="NHWC", int8_input=True)
    first = b.conv(6)
    b.current = "input"
    b.conv(3, k=(1, 1), pads=(0, 0, 0, 0))
    second = b.current
    q = b.g.tensors[first].quant
    b.g.tensors[second].quant = q  # concat inputs share the output quantization
    b.add_node(ops.Concat(axis=1), [first, second], quant=q)
    b.same_quant(ops.Reshape(shape=(-1,)))
    b.linear(7)
    graph = b.finish()
    x_nchw = np.random.default_rng(10).integers(-128, 128, size=(3, 4, 5, 6)).astype(np.int8)
    _, binary, _ = compile_graph(graph, tmp_path)
    got = run_binary(binary, np.ascontiguousarray(np.moveaxis(x_nchw, 1, -1)), tmp_path)
    np.testing.assert_array_equal(got, executor.run_single(graph, x_nchw))


def test_conv1d_and_float_input_quantized_by_runner(tmp_path):
    b = GraphBuilder((1, 3, 20), seed=11)
    b.quantize()
    b.conv1d(5, k=5, stride=2, pads=(2, 2))
    b.conv1d(5, k=3, groups=5)
    b.dequantize()
    graph = b.finish()
    x = np.random.default_rng(12).uniform(-1, 1, size=(4, 3, 20)).astype(np.float32)
    check_exact(graph, tmp_path, x, sanitize=False)


def test_runner_timing_repeat_and_bad_inputs(tmp_path):
    b = GraphBuilder((1, 2, 5, 5), seed=13)
    b.quantize()
    b.conv(3)
    b.dequantize()
    graph = b.finish()
    _, binary, info = compile_graph(graph, tmp_path, profile=True)  # per-layer timing needs the hooks
    assert "-DEC_PROFILE" in info["flags"] and info["compiler_version"]
    x = np.random.default_rng(14).uniform(-1, 1, size=(3, 2, 5, 5)).astype(np.float32)
    run_binary(binary, x, tmp_path, "--repeat", "4", "--timing", str(tmp_path / "t.json"))
    timing = json.loads((tmp_path / "t.json").read_text())
    assert timing["runs"] == 12 and 0 < timing["min_ms"] <= timing["median_ms"]
    assert list(timing["per_layer_ms"]) == [n.name for n in graph.nodes]
    for bad in (np.zeros((2, 2, 5, 4), np.float32), np.zeros((2, 2, 5, 5), np.int8), np.zeros((2, 2, 5, 5), np.float64),
                np.zeros((2, 50), np.float32)):
        np.save(tmp_path / "bad.npy", bad)
        r = subprocess.run([str(binary), str(tmp_path / "bad.npy"), str(tmp_path / "o.npy")], capture_output=True, text=True)
        assert r.returncode == 2 and "edgeconv_run" in r.stderr
    r = subprocess.run([str(binary), "--repeat", "0", "a", "b"], capture_output=True, text=True)
    assert r.returncode == 2


def test_generated_c_is_strict_c99_reproducible_and_prefixed(tmp_path):
    graph = int8_net().finish()
    generate(graph, tmp_path / "a", prefix="net_a_")
    generate(graph, tmp_path / "b", prefix="net_a_")
    for name in ("model.c", "model.h", "Makefile", "CMakeLists.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    text = (tmp_path / "a" / "model.c").read_text()
    assert "malloc" not in text and "stdio" not in text and "net_a_run" in text
    assert "/* conv" in text and "sliding-window */" in text
    c_dir = tmp_path / "a"
    sources = [c_dir / "model.c", *sorted((c_dir / "kernels" / "portable").glob("*.c"))]
    r = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c", f"-I{c_dir / 'include'}",
                        f"-I{c_dir}", *map(str, sources)], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_make_builds_the_self_contained_project(tmp_path):
    b = GraphBuilder((1, 2, 5, 5), seed=15)
    b.quantize()
    b.conv(3)
    b.dequantize()
    graph = b.finish()
    generate(graph, tmp_path / "c")
    r = subprocess.run(["make", "-s"], cwd=tmp_path / "c", capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    x = np.random.default_rng(16).uniform(-1, 1, size=(2, 2, 5, 5)).astype(np.float32)
    got = run_binary(tmp_path / "c" / "edgeconv_run", x, tmp_path)
    np.testing.assert_array_equal(got, executor.run_single(graph, x))


def test_unsupported_layers_are_all_listed(tmp_path):
    b = GraphBuilder((1, 2, 5, 5), seed=17)
    b.quantize()
    b.conv(3)
    q_other = QuantParams(0.5, 1)
    b.add_node(ops.MaxPool(kernel=(2, 2), stride=(2, 2)), [b.current], quant=q_other)  # requantizing pool
    b.add_node(ops.Softmax(axis=1), [b.current], quant=QuantParams(0.1, 0))             # wrong output quant
    graph = b.g
    with pytest.raises(UserError) as err:
        generate(graph, tmp_path / "c")
    assert "maxpool" in str(err.value) and "softmax" in str(err.value)
    with pytest.raises(UserError):
        generate(int8_net().finish(), tmp_path / "d", prefix="9bad")


def test_int8_flatten_into_linear_moves_no_data(tmp_path):
    """A flatten of a 3x3 map read only by Linear layers stays in channels-last order: the Linear's
    weight columns are permuted at generation time, and the outputs stay exact."""
    b = GraphBuilder((1, 3, 7, 6), seed=12)
    b.quantize()
    b.conv(5, stride=(2, 2), clamp=(0.0, None))
    b.same_quant(ops.Reshape(shape=(-1,)))
    b.linear(9)
    b.dequantize()
    graph = b.finish()
    x = np.random.default_rng(13).uniform(-1, 1, size=(3, 3, 7, 6)).astype(np.float32)
    project = check_exact(graph, tmp_path, x)
    assert "ec_hwc_to_chw" not in (tmp_path / "c" / "model.c").read_text()
    assert "ec_layout" in {layer.kernel for layer in project.layers}


def test_int8_flatten_through_a_per_element_op_into_linear_moves_no_data(tmp_path):
    """The same through a per-element op: flatten -> Sign (the binarization before an XNOR
    classifier) -> Linear keeps channels-last bytes from the conv to the Linear."""
    b = GraphBuilder((1, 3, 7, 6), seed=14)
    b.quantize()
    b.conv(5, stride=(2, 2))
    b.same_quant(ops.Reshape(shape=(-1,)))
    b.add_node(ops.Sign(), [b.current], quant=QuantParams(1.0, 0, qmin=-1, qmax=1), precision="w1a1")
    b.linear(9)
    b.dequantize()
    graph = b.finish()
    x = np.random.default_rng(15).uniform(-1, 1, size=(3, 3, 7, 6)).astype(np.float32)
    check_exact(graph, tmp_path, x)
    assert "ec_hwc_to_chw" not in (tmp_path / "c" / "model.c").read_text()
