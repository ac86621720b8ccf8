"""The x86 level rule (kernels/isa.py): CPU flags -> level -> kernel set and compiler flags, forcing a
lower level with EDGECONV_X86_LEVEL, the latency model's figures per level, release and profiling
builds, and one small model bit-exact at every level this machine runs."""

import json
import re
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from edgeconv.backends.c import build_host, generate
from edgeconv.backends.c.runner_build import build_runner
from edgeconv.cli import cli
from edgeconv.errors import UserError
from edgeconv.ir import ops
from edgeconv.kernels.isa import (
    LEVEL_ENV, X86_LEVEL_NAMES, host_cpu_flags, host_kernel_set, host_x86_levels, kernel_set, x86_level,
)
from edgeconv.kernels import amx
from edgeconv.kernels.geometry import LayerGeometry
from edgeconv.kernels.registry import kernel
from edgeconv.resources import kernels_dir
from edgeconv.reference import executor
from edgeconv.select.latency import kernel_throughput
from edgeconv.targets import load_target
from edgeconv.toolchain import find_compiler
from tests.kernels.qgraphs import GraphBuilder

X86 = "x86_64-linux-gnu"
SSE41 = {"sse2", "sse4_1", "popcnt"}
AVX2 = SSE41 | {"avx2", "fma"}
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512vl"}
VNNI = AVX512 | {"avx512_vnni"}
AMX = VNNI | {"amx_tile", "amx_int8"}


@pytest.mark.parametrize("flags, level, isa", [
    ({"sse2"}, "portable", "portable"),
    ({"sse2", "sse4_1"}, "portable", "portable"),           # SSE4.1 without POPCNT
    (SSE41, "sse4.1", "portable"),
    (SSE41 | {"avx2"}, "sse4.1", "portable"),               # AVX2 without FMA
    (AVX2, "avx2", "x86"),
    (AVX2 | {"avx512f", "avx512bw"}, "avx2", "x86"),        # no AVX512VL
    (AVX512, "avx512", "x86"),
    (AVX512 | {"avx512vbmi"}, "avx512", "x86"),
    (VNNI, "avx512-vnni", "x86"),
    (VNNI | {"amx_tile"}, "avx512-vnni", "x86"),            # AMX without its int8 multiplies
    (AMX, "avx512-amx", "x86"),
    (AVX2 | {"amx_tile", "amx_int8"}, "avx2", "x86"),       # AMX flags without AVX-512 VNNI
    (AVX2 | {"avx512_vnni"}, "avx2", "x86"),                # VNNI flag without the AVX-512 base
])
def test_cpu_flags_give_the_level(flags, level, isa):
    assert x86_level(flags) == level
    chosen = kernel_set(X86, flags)
    assert (chosen.level, chosen.isa) == (level, isa)


def test_each_level_switches_its_instructions_on_and_the_next_off():
    assert kernel_set(X86, AVX2).flags == ("-mavx2", "-mfma", "-mpopcnt", "-mno-avx512f")
    assert "-mno-avx512vnni" in kernel_set(X86, AVX512).flags and "-mavx512vnni" not in kernel_set(X86, AVX512).flags
    assert "-mno-avx2" in kernel_set(X86, SSE41).flags
    assert "-mno-sse4.1" in kernel_set(X86, {"sse2"}).flags
    vnni = kernel_set(X86, VNNI | {"avx512vbmi"})
    assert "-mavx512vnni" in vnni.flags and vnni.flags[-1] == "-mavx512vbmi" and "avx512vbmi" in vnni.features
    assert "-mno-amx-int8" in vnni.flags and "-mamx-int8" not in vnni.flags
    amx = kernel_set(X86, AMX)
    assert amx.level == "avx512-amx" and {"-mavx512vnni", "-mamx-tile", "-mamx-int8"} <= set(amx.flags)
    assert not any(f.startswith("-mno-") for f in amx.flags)


def test_a_lower_level_is_granted_and_a_higher_one_refused():
    assert kernel_set(X86, VNNI, "avx2").level == "avx2"
    assert kernel_set(X86, VNNI, "portable").isa == "portable"
    with pytest.raises(UserError, match="avx512-vnni needs CPU flags this CPU lacks .*avx2"):
        kernel_set(X86, AVX2, "avx512-vnni")
    with pytest.raises(UserError, match="unknown x86 level 'avx3'"):
        kernel_set(X86, VNNI, "avx3")
    with pytest.raises(UserError, match="not x86-64"):
        kernel_set("aarch64-linux-gnu", (), "avx2")
    assert kernel_set("aarch64-linux-gnu", ()).level == "arm"


def test_the_environment_forces_the_host_level(monkeypatch):
    levels = host_x86_levels()
    if not levels:
        pytest.skip("not an x86-64 machine")
    monkeypatch.setenv(LEVEL_ENV, levels[0])
    assert host_kernel_set().level == levels[0]
    monkeypatch.setenv(LEVEL_ENV, "avx3")
    with pytest.raises(UserError, match=f"{LEVEL_ENV}='avx3' is not an x86 level"):
        host_kernel_set()
    if levels[-1] != X86_LEVEL_NAMES[-1]:
        monkeypatch.setenv(LEVEL_ENV, X86_LEVEL_NAMES[-1])
        with pytest.raises(UserError, match="this CPU lacks"):
            host_kernel_set()


def test_the_command_line_refuses_an_unknown_level_in_one_line(monkeypatch, tiny_onnx_model):
    monkeypatch.setenv(LEVEL_ENV, "avx3")
    result = CliRunner().invoke(cli, ["inspect", str(tiny_onnx_model), "--target", "host"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert f"{LEVEL_ENV}='avx3' is not an x86 level" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cost_figures_follow_the_level():
    cost = kernel("ec_s8_conv2d_im2col").cost
    assert cost.simd_cost("avx512-vnni") is cost.x86["avx512-vnni"]
    below = cost.simd_cost("avx512")  # no figures of its own: the nearest level below that has some
    assert below is cost.x86.get("avx2", cost.simd)
    assert cost.simd_cost("arm") is cost.arm["arm"] and cost.simd_cost("arm-dotprod") is cost.arm["arm-dotprod"]
    bitserial = kernel("ec_s8_conv2d_bitserial").cost  # no NEON figures of its own: the shared ones
    assert bitserial.simd_cost("arm") is bitserial.simd


def test_the_host_peak_is_the_forced_levels(monkeypatch):
    if "avx512-vnni" not in host_x86_levels():
        pytest.skip("needs an AVX-512 VNNI machine to compare two levels")
    host = load_target("host")
    assert host.peak("int8", kernel_set(X86, VNNI).features).mac_per_cycle == 64
    assert host.peak("int8", kernel_set(X86, AVX2).features).mac_per_cycle == 32
    vnni_rate = kernel_throughput(host, "int8", "ec_s8_conv2d_1x1")
    monkeypatch.setenv(LEVEL_ENV, "avx2")
    assert kernel_throughput(host, "int8", "ec_s8_conv2d_1x1") != vnni_rate


def small_model():
    """Every x86 kernel family but the binary ones: quantize, im2col, depthwise 3x3 and 5x5, 1x1,
    add, max and average pools, a lookup table, global average pool, fully connected."""
    b = GraphBuilder((1, 3, 13, 12), seed=4)
    b.quantize()
    b.conv(24, clamp=(0.0, None))
    skip = b.current
    b.conv(24, groups=24)
    b.conv(24, k=(5, 5), pads=(2, 2, 2, 2), groups=24)
    b.conv(24, k=(1, 1), pads=(0, 0, 0, 0), clamp=(0.0, 6.0))
    b.binary(ops.Add, skip)
    b.same_quant(ops.MaxPool(kernel=(2, 2), stride=(2, 2)))
    b.lut(ops.Hardswish())
    b.same_quant(ops.AvgPool(kernel=(2, 2), stride=(1, 1)))
    b.same_quant(ops.GlobalAvgPool())
    b.same_quant(ops.Reshape(shape=(-1,)))
    b.linear(10)
    b.dequantize()
    return b


@pytest.mark.parametrize("level", X86_LEVEL_NAMES)
def test_small_model_bit_exact_at_every_level(level, tmp_path, monkeypatch):
    if level not in host_x86_levels():
        pytest.skip(f"this CPU does not run the {level} level")
    monkeypatch.setenv(LEVEL_ENV, level)
    builder = small_model()
    graph = builder.finish()
    generate(graph, tmp_path / "c")
    binary, info = build_host(tmp_path / "c", tmp_path / "edgeconv_run")
    assert info["level"] == level and info["isa"] == kernel_set(X86, host_cpu_flags(), level).isa
    x = builder.calib[:4]
    np.save(tmp_path / "x.npy", x)
    subprocess.run([str(binary), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), executor.run(graph, x)[graph.outputs[0]])


def _symbols(binary) -> str:
    return subprocess.run(["nm", str(binary)], capture_output=True, text=True, check=True).stdout


def test_release_build_has_no_profiling_hooks_and_the_profiling_build_has(tmp_path):
    graph = small_model().finish()
    generate(graph, tmp_path / "c")
    host = load_target("host")
    release = build_runner(tmp_path / "c", host, find_compiler(host), tmp_path / "release")
    profiling = build_runner(tmp_path / "c", host, find_compiler(host), tmp_path / "profiling", profile=True)
    assert "ec_profile_begin" not in _symbols(tmp_path / "release" / release.binary)
    assert "ec_profile_begin" in _symbols(tmp_path / "profiling" / profiling.binary)
    assert not release.profile and "-DEC_PROFILE" not in release.cflags
    assert profiling.profile and "-DEC_PROFILE" in profiling.cflags
    assert sum(f.startswith("-O") for f in release.cflags) == 1  # the board's own -O2, once
    record = json.loads((tmp_path / "release" / "build.json").read_text())
    assert record["level"] == host_kernel_set().level and record["profile"] is False


def test_the_latency_models_amx_rule_is_the_kernels():
    """kernels/amx.py mirrors ec_x86_amx.h's constants, and prices the layers the AMX build runs
    on its VNNI tiles with the avx512-vnni figures."""
    header = (kernels_dir() / "include" / "ec_x86_amx.h").read_text()
    defined = {name: int(value) for name, value in re.findall(r"#define EC_AMX_(\w+) (\d+)", header)}
    assert {name: defined[name] for name in ("MIN_PIXELS", "MIN_K", "K_MAX", "WIDE_K", "WIDE_N")} == {
        "MIN_PIXELS": amx.MIN_PIXELS, "MIN_K": amx.MIN_K, "K_MAX": amx.K_MAX, "WIDE_K": amx.WIDE_K,
        "WIDE_N": amx.WIDE_N}

    def conv(c_in, c_out, k, out):
        return LayerGeometry("Conv", c_in, c_out, 1, (k, k), (1, 1), (k // 2,) * 4, (1, 1), (out, out), (out, out), True)

    im2col, pointwise = "ec_s8_conv2d_im2col", "ec_s8_conv2d_1x1"
    assert amx.runs_on_amx(im2col, conv(64, 64, 3, 56)) and amx.runs_on_amx(pointwise, conv(384, 64, 1, 14))
    assert not amx.runs_on_amx(im2col, conv(16, 16, 3, 32))       # K = 144, 16 channels: too narrow
    assert not amx.runs_on_amx(im2col, conv(32, 32, 3, 16))       # K = 288, 32 channels: too narrow
    assert amx.runs_on_amx(pointwise, conv(520, 17, 1, 16))       # K = 520: wide enough alone
    assert amx.runs_on_amx(im2col, conv(10, 64, 3, 8))            # taps of 10 bytes packed as 12: K = 108
    assert not amx.runs_on_amx(im2col, conv(3, 32, 3, 112))       # K = 28: under one tile row
    assert not amx.runs_on_amx(im2col, conv(64, 64, 3, 3))        # 9 pixels
    assert not amx.runs_on_amx(pointwise, conv(5000, 64, 1, 7))   # K past the gather buffer
    assert amx.layer_level("avx512-amx", im2col, conv(16, 16, 3, 32)) == "avx512-vnni"
    assert amx.layer_level("avx512-amx", im2col, conv(64, 64, 3, 56)) == "avx512-amx"
    assert amx.layer_level("avx2", im2col, conv(64, 64, 3, 56)) == "avx2"
