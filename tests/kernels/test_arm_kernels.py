"""NEON kernels (kernels_c/arm): strict C99 builds with the Debian cross compilers, and bit-exact
results under qemu-aarch64 on a model exercising every NEON variant."""

import shutil
import subprocess

import numpy as np
import pytest

from edgeconv.backends.c import build_host, generate
from edgeconv.ir import ops
from edgeconv.reference import executor
from edgeconv.resources import kernels_dir
from tests.kernels.cbuild import STRICT, kernel_names_in
from tests.kernels.qgraphs import GraphBuilder

CROSS = {"aarch64-linux-gnu-gcc": (), "arm-linux-gnueabihf-gcc": ("-mfpu=neon",)}


@pytest.mark.parametrize("compiler", sorted(CROSS))
def test_every_kernel_compiles_strictly_for_arm(compiler, tmp_path):
    if shutil.which(compiler) is None:
        pytest.fail(f"cross compiler {compiler} is not installed")
    root = kernels_dir()
    sources = sorted((root / "portable").glob("*.c")) + sorted((root / "arm").glob("*.c"))
    assert kernel_names_in("arm"), "no NEON kernels found"
    for src in sources:
        r = subprocess.run([compiler, *STRICT, "-O2", *CROSS[compiler], f"-I{root / 'include'}", "-c", str(src),
                            "-o", str(tmp_path / f"{src.parent.name}_{src.stem}.o")], capture_output=True, text=True)
        assert r.returncode == 0, f"{src}: {r.stderr}"


def neon_net() -> GraphBuilder:
    b = GraphBuilder((1, 3, 10, 9), seed=21)
    b.quantize()
    b.conv(12, clamp=(0.0, None))                       # C_in 3: im2col
    b.conv(20)                                           # 3x3 im2col GEMM read in place, 12 -> 20
    b.conv(17, algorithm="sliding-window")               # 3x3 sliding window, 20 -> 17 (tail channels)
    b.conv(17, groups=17)                                # depthwise 3x3, 17 channels (8 + 8 + 1)
    b.conv(24, k=(1, 1), pads=(0, 0, 0, 0))              # 1x1
    b.conv(8, dilation=(2, 2), pads=(2, 2, 2, 2))       # dilated: one channel at a time
    b.add_node(ops.GlobalAvgPool(keepdims=False), [b.current], auto_scale=True)
    b.linear(13)
    b.dequantize()
    return b


@pytest.mark.slow
def test_neon_model_is_bit_exact_under_qemu(tmp_path):
    for tool in ("aarch64-linux-gnu-gcc", "qemu-aarch64"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed")
    graph = neon_net().finish()
    project = generate(graph, tmp_path / "c")
    assert {"ec_s8_conv2d_im2col", "ec_s8_conv2d_slidingwin", "ec_s8_dwconv2d_3x3", "ec_s8_conv2d_1x1",
            "ec_s8_fully_connected"} <= set(project.kernels)
    binary, info = build_host(tmp_path / "c", tmp_path / "edgeconv_run_arm", cc="aarch64-linux-gnu-gcc", isa="arm",
                              flags=("-static",))
    assert any(src.startswith("kernels/arm/") for src in info["sources"])
    x = np.random.default_rng(22).uniform(-1, 1, size=(5, 3, 10, 9)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = subprocess.run(["qemu-aarch64", "-cpu", "cortex-a72", str(binary), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), executor.run_single(graph, x))
