"""Compiled kernel objects kept between builds (``backends.c.object_cache``): a second build of the
same kernels compiles none of them and runs exact; a changed header or flag compiles again; a
kernel that does not compile leaves nothing behind; a cache that cannot be written, or a compiler
whose version is unknown, still builds, uncached; the folder keeps to its size, least recently
used first. A 32-bit ARM build's probe of its NEON kernels compiles the objects the build links,
and a NEON kernel that does not compile for the board sends the build to the portable kernels."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeconv import toolchain
from edgeconv.backends.c import build_host, generate
from edgeconv.backends.c.build import find_compiler, kernel_sources
from edgeconv.backends.c.object_cache import OBJECT_CACHE_ENV, kernel_objects, prune
from edgeconv.backends.c.runner_build import build_runner
from edgeconv.errors import UserError
from edgeconv.ir import ops
from edgeconv.reference import executor
from edgeconv.targets import load_target
from edgeconv.toolchain import UNKNOWN_VERSION
from tests.conftest import require_tool
from tests.kernels.qgraphs import GraphBuilder


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "objects"
    monkeypatch.setenv(OBJECT_CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def project(tmp_path):
    """A generated project (a max pool and a lookup table: kernels quick to compile) and its
    reference (graph, input)."""
    b = GraphBuilder((1, 4, 6, 5), seed=21)
    b.quantize()
    b.same_quant(ops.MaxPool(kernel=(2, 2), stride=(2, 2)))
    b.lut(ops.Hardswish())
    b.dequantize()
    graph = b.finish()
    x = np.random.default_rng(22).uniform(-1, 1, size=(2, 4, 6, 5)).astype(np.float32)
    generate(graph, tmp_path / "c")
    return tmp_path / "c", graph, x


def objects(folder):
    """{object name: inode}: a compile writes a new file, a hit leaves the inode."""
    return {p.name: p.stat().st_ino for p in folder.glob("*.o")} if folder.is_dir() else {}


def run_exact(binary, graph, x, tmp_path):
    np.save(tmp_path / "x.npy", x)
    r = subprocess.run([str(binary), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), executor.run_single(graph, x))


def test_a_second_build_compiles_no_kernel_and_runs_exact(project, cache, tmp_path):
    c_dir, graph, x = project
    kernel_files = len(build_host(c_dir, tmp_path / "first" / "run")[1]["sources"]) - 3  # model.c and the runner's two
    first = objects(cache)
    assert len(first) == kernel_files > 0
    binary, _ = build_host(c_dir, tmp_path / "second" / "run")
    assert objects(cache) == first
    run_exact(binary, graph, x, tmp_path)
    assert not [p for p in cache.iterdir() if not p.name.endswith(".o") or p.name.startswith(".")]


def test_a_changed_header_or_flag_compiles_again(project, cache, tmp_path):
    c_dir, graph, x = project
    build_host(c_dir, tmp_path / "a" / "run")
    before = objects(cache)
    build_host(c_dir, tmp_path / "b" / "run", profile=True)
    profiled = objects(cache)
    assert set(before) < set(profiled) and len(profiled) == 2 * len(before)
    header = c_dir / "include" / "ec_common.h"
    header.write_text(header.read_text() + "\n/* changed */\n")
    binary, _ = build_host(c_dir, tmp_path / "c" / "run")
    recompiled = set(objects(cache)) - set(profiled)
    assert 0 < len(recompiled) <= len(before)  # the kernels that include ec_common.h, directly or not
    run_exact(binary, graph, x, tmp_path)


def test_a_kernel_that_does_not_compile_leaves_nothing_behind(project, cache, tmp_path):
    c_dir, _, _ = project
    for source in (c_dir / "kernels").rglob("ec_s8_maxpool2d.c"):
        source.write_text(source.read_text() + "\nthis is not C;\n")
    with pytest.raises(UserError, match="compiling .* failed"):
        build_host(c_dir, tmp_path / "broken" / "run")
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]


def test_a_cache_that_cannot_be_written_still_builds(project, tmp_path, monkeypatch):
    c_dir, graph, x = project
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(OBJECT_CACHE_ENV, str(blocker / "objects"))
    binary, _ = build_host(c_dir, tmp_path / "build" / "run")
    run_exact(binary, graph, x, tmp_path)


def test_a_compiler_of_unknown_version_is_never_cached(project, cache, tmp_path):
    c_dir, _, _ = project
    sources = kernel_sources(c_dir, "portable")
    built = kernel_objects([find_compiler()], UNKNOWN_VERSION, ["-O2"], sources, c_dir / "include", tmp_path / "scratch",
                           "compiling")
    assert len(built) == len(sources) and all(p.parent == tmp_path / "scratch" and p.is_file() for p in built)
    assert not objects(cache)


def test_the_folder_keeps_to_its_size_least_recently_used_first(tmp_path):
    for age, name in enumerate(("old", "middle", "new")):
        path = tmp_path / f"{name}.o"
        path.write_bytes(b"\0" * 100)
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    prune(tmp_path, 250)
    assert sorted(p.name for p in tmp_path.glob("*.o")) == ["middle.o", "new.o"]
    prune(tmp_path, 100)
    assert [p.name for p in tmp_path.glob("*.o")] == ["new.o"]


@pytest.fixture
def armv7(monkeypatch):
    """The rpi3 target, its cross compiler, and {kernel file name: times the compiler compiled it}."""
    require_tool("arm-linux-gnueabihf-gcc")
    target = load_target("rpi3")
    compiled = {}
    run = subprocess.run

    def counting(command, *args, **kwargs):
        if "-c" in command:
            name = Path(command[command.index("-c") + 1]).name
            compiled[name] = compiled.get(name, 0) + 1
        return run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting)
    return target, toolchain.find_compiler(target), compiled


def test_the_armv7_neon_probe_compiles_the_objects_its_build_links(project, cache, armv7, tmp_path):
    c_dir, _, _ = project
    target, compiler, compiled = armv7
    record = build_runner(c_dir, target, compiler, tmp_path / "build")
    neon = sorted(p.name for p in (c_dir / "kernels" / "arm").glob("*.c"))
    assert record.isa == "arm" and record.isa_note is None and neon
    kernels = [s for s in record.sources if s.startswith("kernels/")]
    assert compiled == {name.split("/")[-1]: 1 for name in kernels}  # each kernel once: the probe's is the build's
    assert len(objects(cache)) == len(kernels)


def test_a_neon_kernel_that_does_not_compile_for_armv7_gives_the_portable_kernels(project, cache, armv7, tmp_path):
    c_dir, _, _ = project
    target, compiler, _ = armv7
    broken = c_dir / "kernels" / "arm" / "ec_s8_maxpool2d.c"
    broken.write_text(broken.read_text() + "\nthis is not C;\n")
    record = build_runner(c_dir, target, compiler, tmp_path / "build")
    assert record.isa == "portable"
    assert record.isa_note.startswith("NEON kernels do not build for arm-linux-gnueabihf (ec_s8_maxpool2d.c: ")
    assert "error" in record.isa_note and record.isa_note.endswith("; portable kernels used")
    assert all(not s.startswith("kernels/arm/") for s in record.sources)
    assert (tmp_path / "build" / "edgeconv_run").is_file()
