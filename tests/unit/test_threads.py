"""The generated C on its thread pool: every layer cut into as many tasks as its units allow
(``min_task_work=1``), the runner at 1, 2, 3 and 4 threads gives byte for byte the output of one
thread and the reference executor's; ThreadSanitizer finds no race; one thread builds without
pthreads (``EC_THREADS=1``)."""

import re
import subprocess

import numpy as np
import pytest

from edgeconv.backends.c import build_host, generate
from edgeconv.errors import UserError
from edgeconv.ir import ops
from edgeconv.kernels.split import GEMM_CHANNELS, WEIGHTED_ROWS, task_count
from edgeconv.reference import executor
from tests.kernels.qgraphs import GraphBuilder, binary_chain_net, mixed_fp32_net

THREADS = (1, 2, 3, 4)
STRICT = ("-Wall", "-Wextra", "-Werror", "-pedantic")
TSAN = ("-fsanitize=thread", "-g", "-O1")


def run_at(binary, x, tmp_path, threads: int) -> np.ndarray:
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / f"y{threads}.npy"
    result = subprocess.run([str(binary), "--threads", str(threads), str(tmp_path / "x.npy"), str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "ThreadSanitizer" not in result.stderr, result.stderr
    return np.load(out)


def threaded(graph, x, tmp_path, flags=STRICT, isa=None):
    """Generate for 4 threads with every layer cut as far as its units allow, build with ``flags``
    (this machine's kernels, or ``isa``'s), run at every count; returns (project, outputs by thread
    count), each output byte-identical to one thread's."""
    project = generate(graph, tmp_path / "c", threads=4, min_task_work=1)
    binary, _ = build_host(tmp_path / "c", tmp_path / "edgeconv_run", flags=flags, isa=isa, profile=True)
    outputs = {t: run_at(binary, x, tmp_path, t) for t in THREADS}
    for t in THREADS:
        assert outputs[t].tobytes() == outputs[1].tobytes(), f"{t} threads"
    return project, outputs


def split_kernels(project) -> set:
    return {layer.kernel for layer in project.layers if layer.tasks > 1}


def int8_net() -> GraphBuilder:
    """Every int8 split: rows (im2col, depthwise 3x3 and generic, sliding window, add, pools with
    padding counted or not), positions (1x1), channels (fully connected), elements."""
    b = GraphBuilder((1, 3, 13, 11), seed=31)
    b.quantize()
    b.conv(8, clamp=(0.0, None))
    skip = b.current
    b.conv(8, groups=8)
    b.conv(8, k=(1, 1), pads=(0, 0, 0, 0), clamp=(0.0, 6.0))
    b.binary(ops.Add, skip)
    b.lut(ops.Hardswish())
    b.conv(12, stride=(2, 2))
    b.conv(24, k=(5, 5), stride=(2, 2), pads=(2, 2, 2, 2), groups=12)
    b.same_quant(ops.AvgPool(kernel=(3, 3), stride=(1, 1), pads=(1, 1, 1, 1), count_include_pad=True))
    b.same_quant(ops.MaxPool(kernel=(2, 2), stride=(1, 1), pads=(0, 0, 1, 1)))
    b.same_quant(ops.Reshape(shape=(-1,)))
    b.linear(40)
    b.dequantize()
    return b


def test_int8_layers_equal_at_every_thread_count_and_the_reference(tmp_path):
    graph = int8_net().finish()
    x = np.random.default_rng(32).uniform(-1.2, 1.2, size=(5, 3, 13, 11)).astype(np.float32)
    project, outputs = threaded(graph, x, tmp_path)
    np.testing.assert_array_equal(outputs[1], executor.run_single(graph, x))
    assert split_kernels(project) >= {
        "ec_s8_quantize", "ec_s8_conv2d_im2col", "ec_s8_dwconv2d_3x3", "ec_s8_conv2d_1x1", "ec_s8_add", "ec_s8_lut",
        "ec_s8_conv2d_slidingwin", "ec_s8_dwconv2d_generic", "ec_s8_avgpool2d", "ec_s8_maxpool2d",
        "ec_s8_fully_connected"}
    text = (tmp_path / "c" / "model.c").read_text()
    assert re.search(r"/\* fc\w*: \d+->40, int8; 3 tasks by output channels in blocks of 16 \*/", text), text
    assert "ec_pool_run(&ec_model_pool," in text


def test_binary_and_bitserial_layers_equal_at_every_thread_count(tmp_path):
    """XNOR convolutions writing and reading packed bits, the bit pool, a binary fully connected
    layer of 20 outputs, and bit-serial w2a2 convolutions: per-task scratch, packed row strides."""
    binary = binary_chain_net(1, 20)
    x = np.random.default_rng(13).uniform(-1, 1, size=(4, 3, 9, 9)).astype(np.float32)
    project, outputs = threaded(binary, x, tmp_path / "w1a1")
    np.testing.assert_array_equal(outputs[1], executor.run_single(binary, x))
    assert split_kernels(project) >= {"ec_b1_conv2d_xnor", "ec_b1_maxpool2d", "ec_b1_fully_connected"}

    b = GraphBuilder((1, 4, 9, 9), seed=3)
    b.quantize()
    b.conv(40, qrange=(-128, -125))
    b.conv(24, precision="w2a2", weight_levels=2, qrange=(-128, -125))
    b.conv(8, precision="w2a2", weight_levels=2, stride=(2, 2))
    b.dequantize()
    bitserial = b.finish()
    x = np.random.default_rng(4).uniform(-1, 1, size=(4, 4, 9, 9)).astype(np.float32)
    project, outputs = threaded(bitserial, x, tmp_path / "w2a2")
    np.testing.assert_array_equal(outputs[1], executor.run_single(bitserial, x))
    assert "ec_s8_conv2d_bitserial" in split_kernels(project)


def test_float_layers_equal_at_every_thread_count(tmp_path):
    graph = mixed_fp32_net(10, 9)
    x = np.random.default_rng(8).uniform(-1, 1, size=(3, 2, 10, 9)).astype(np.float32)
    project, outputs = threaded(graph, x, tmp_path, isa="portable")  # the float kernels are portable C
    expected = executor.run_single(graph, x)
    assert np.abs(outputs[1] - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
    assert split_kernels(project) >= {"ec_f32_activation", "ec_f32_maxpool2d", "ec_s8_dequantize"}


def test_thread_sanitizer_finds_no_race(tmp_path):
    graph = int8_net().finish()
    x = np.random.default_rng(33).uniform(-1.2, 1.2, size=(3, 3, 13, 11)).astype(np.float32)
    _, outputs = threaded(graph, x, tmp_path, flags=TSAN, isa="portable")
    np.testing.assert_array_equal(outputs[4], executor.run_single(graph, x))


def test_one_thread_build_needs_no_pthread(tmp_path):
    """EC_THREADS=1: the pool is a loop on the caller; model.c and the kernels compile without
    the pthread header (the preprocessed sources never name it) and give the same bytes."""
    graph = int8_net().finish()
    generate(graph, tmp_path / "c", threads=4, min_task_work=1)
    c = tmp_path / "c"
    pre = subprocess.run(["cc", "-std=c99", "-E", "-DEC_THREADS=1", f"-I{c / 'include'}", f"-I{c}",
                          str(c / "model.c"), str(c / "kernels" / "portable" / "ec_parallel.c")],
                         capture_output=True, text=True)
    assert pre.returncode == 0, pre.stderr
    assert "pthread" not in pre.stdout
    binary, _ = build_host(c, tmp_path / "run1", flags=(*STRICT, "-DEC_THREADS=1"), isa="portable", profile=True)
    x = np.random.default_rng(34).uniform(-1.2, 1.2, size=(2, 3, 13, 11)).astype(np.float32)
    np.testing.assert_array_equal(run_at(binary, x, tmp_path, 1), executor.run_single(graph, x))
    refused = subprocess.run([str(binary), "--threads", "2", str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "--threads takes an integer in 1..1" in refused.stderr


def test_small_layers_stay_on_one_thread_and_counts_are_checked(tmp_path):
    # the registry's least work per task: a 1x1 of 8 positions is too small to share
    assert task_count(WEIGHTED_ROWS, (1, 64, 8, 8), 64 * 8 * 8 * 9 * 64, 4) == 4   # 2.4 M MACs
    assert task_count(WEIGHTED_ROWS, (1, 64, 8, 8), 3 * WEIGHTED_ROWS.min_work - 1, 4) == 2
    assert task_count(WEIGHTED_ROWS, (1, 16, 8, 8), 16 * 8 * 8 * 9 * 16, 4) == 1   # 147 k MACs
    assert task_count(GEMM_CHANNELS, (1, 40), 10**9, 4) == 3      # 3 blocks of 16 channels
    assert task_count(WEIGHTED_ROWS, (1, 16, 2, 8), 10**9, 4) == 2  # 2 rows
    assert task_count(None, (1, 16, 64, 64), 10**9, 4) == 1
    graph = int8_net().finish()
    project = generate(graph, tmp_path / "c", threads=4)
    assert all(layer.tasks == 1 for layer in project.layers)  # a 13 x 11 net: nothing worth sharing
    with pytest.raises(UserError, match="threads must be an integer in 1..8"):
        generate(graph, tmp_path / "c9", threads=9)
