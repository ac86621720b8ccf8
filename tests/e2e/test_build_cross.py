"""Cross builds of a compressed zoo model for Raspberry Pi boards, run under qemu-user.

The runner is built for ``rpi4`` (aarch64) and ``rpi3`` (32-bit armv7 hard-float) with Debian's
cross compilers, and for ``rpi4`` with ``zig cc`` (static musl); each binary must really be an ARM
ELF file of the right class, statically linked, and give the reference executor's outputs
exactly, for int8, DoReFa w2a2 and XNOR w1a1 models.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import edgeconv.api as api
from edgeconv.backends.irfile import IR_FILE_NAME, load_graph
from edgeconv.backends.c.runner_build import build_runner
from edgeconv.reference import executor
from edgeconv.runtimes.runner import QemuRunner
from edgeconv.targets import load_target
from edgeconv.toolchain import zig_compiler
from edgeconv.verify.inputs import random_inputs
from edgeconv.verify.verify_dir import compare_artifacts
from edgeconv.zoo import models, training
from tests.conftest import require_tool

PRECISIONS = ("int8", "w2a2", "w1a1")
EM_ARM, EM_AARCH64 = 40, 183
PT_INTERP = 3
ELF_EXPECTED = {"rpi4": (2, EM_AARCH64), "rpi3": (1, EM_ARM)}  # (EI_CLASS: 1 = 32-bit, 2 = 64-bit, e_machine)
SAMPLES = 8


@pytest.fixture(scope="module")
def compressed(tmp_path_factory) -> dict:
    """precision -> OUT of the (seeded, untrained) TinyCNN compressed for rpi4."""
    root = tmp_path_factory.mktemp("cross")
    torch.manual_seed(0)
    model = models.MODELS["tinycnn"]().eval()
    x_train, y_train, _, _ = training.digits_dataset()
    torch.export.save(torch.export.export(model, (torch.from_numpy(x_train[:1]),)), root / "tinycnn.pt2")
    np.savez(root / "calib.npz", x=x_train[:64], y=y_train[:64])
    return {
        p: Path(api.compress(root / "tinycnn.pt2", "rpi4", data=root / "calib.npz", precisions=p, epochs=0,
                             out=root / f"tinycnn-{p}")["out"])
        for p in PRECISIONS
    }


def elf_facts(path: Path) -> tuple:
    """(EI_CLASS, e_machine, has a PT_INTERP program header) read from the ELF header."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF", f"{path} is not an ELF file"
    elf_class, little = data[4], data[5] == 1
    order = "<" if little else ">"
    (machine,) = struct.unpack_from(order + "H", data, 18)
    if elf_class == 2:
        phoff, = struct.unpack_from(order + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 54)
    else:
        phoff, = struct.unpack_from(order + "I", data, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 42)
    types = [struct.unpack_from(order + "I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    return elf_class, machine, PT_INTERP in types


def reference_and_c(out: Path, binary: Path, target_name: str) -> tuple:
    """(reference executor outputs, edgeconv_run outputs under qemu) on seeded random inputs."""
    graph = load_graph(out / IR_FILE_NAME)
    x = random_inputs(graph, SAMPLES).x[0]
    expected = executor.run(graph, {graph.inputs[0]: x})[graph.outputs[0]]
    target = load_target(target_name)
    got = QemuRunner(target.qemu_binary, target.qemu_cpu).run(binary, x).outputs
    return expected, got


@pytest.mark.slow
@pytest.mark.parametrize("target_name", ["rpi4", "rpi3"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_cross_build_runs_bit_exact_under_qemu(compressed, precision, target_name):
    target = load_target(target_name)
    require_tool(f"{target.toolchain.triple}-gcc")
    require_tool(target.qemu_binary)
    out = compressed[precision]
    record = api.build(out, target=target_name)
    binary = out / "build" / target_name / "edgeconv_run"
    assert record["kind"] == "debian-cross" and record["static"] is True
    saved = json.loads((binary.parent / "build.json").read_text())
    assert saved == {key: record[key] for key in saved}

    elf_class, machine, dynamic = elf_facts(binary)
    assert (elf_class, machine) == ELF_EXPECTED[target_name]
    assert not dynamic, "ARM runners must be statically linked"

    expected, got = reference_and_c(out, binary, target_name)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)

    row_name = f"c-qemu-{target_name}"
    result = compare_artifacts(out, None, target, "qemu", runtimes=[row_name]).to_json()
    row = result["runtimes"][row_name]
    assert row["passed"] and row["bit_exact"] and row["max_abs_diff"] == 0
    assert row["latency_ms"] is None, "timings under emulation are not the board's"


@pytest.mark.slow
def test_zig_build_for_rpi4_runs_bit_exact_under_qemu(compressed, tmp_path, monkeypatch):
    require_tool("qemu-aarch64")
    # zig keeps the musl libc it builds per target in its global cache (minutes to build); the test
    # suite moves XDG_CACHE_HOME to a fresh folder, so name zig's own cache folder explicitly.
    monkeypatch.setenv("ZIG_GLOBAL_CACHE_DIR", os.environ.get("ZIG_GLOBAL_CACHE_DIR",
                                                              str(Path.home() / ".cache" / "zig")))
    out = compressed["w2a2"]
    target = load_target("rpi4")
    record = build_runner(out / "c", target, zig_compiler(target), tmp_path)
    binary = tmp_path / "edgeconv_run"
    assert record.kind == "zig" and record.static
    elf_class, machine, dynamic = elf_facts(binary)
    assert (elf_class, machine, dynamic) == (2, EM_AARCH64, False)
    expected, got = reference_and_c(out, binary, "rpi4")
    np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
def test_32bit_arm_build_records_its_kernel_set(compressed):
    """rpi3 builds the NEON kernels only where they compile for AArch32, and says which it used."""
    require_tool("arm-linux-gnueabihf-gcc")
    record = api.build(compressed["int8"], target="rpi3")
    assert record["isa"] in ("arm", "portable")
    assert (record["isa"] == "portable") == (record["isa_note"] is not None)
    assert all(source.startswith(f"kernels/{record['isa']}/") or source.startswith("kernels/portable/")
               for source in record["sources"] if source.startswith("kernels/"))
    assert "-mfpu=neon-fp-armv8" in record["cflags"]
