"""The cross toolchains a fresh machine gets from ``make`` really build and run ARM programs.

For every bundled ARM board, the compiler ``edgeconv build`` picks (Debian's cross gcc for the
board's triple), with the board's own C and link flags, builds a static hello world that includes
the C library's headers and links libc and libm; qemu-user runs it with the board's ``-cpu``.
A cross compiler installed without its C library (apt's ``--no-install-recommends`` skips
``libc6-dev-arm64-cross`` / ``libc6-dev-armhf-cross``) fails here, not later in a user's build.
"""

from __future__ import annotations

import subprocess

import pytest

from edgeconv.backends.c.build import base_flags
from edgeconv.targets import load_target, target_names
from edgeconv.toolchain import find_compiler
from tests.conftest import require_tool

ARM_BOARDS = [name for name in target_names() if not load_target(name).is_host]

HELLO = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    char *copy = malloc(strlen(argv[0]) + 1);
    if (copy == NULL) return 1;
    strcpy(copy, argv[0]);
    printf("hello %d %.3f\n", argc, sqrt(2.0));
    free(copy);
    return 0;
}
"""


def test_every_arm_triple_is_covered():
    triples = {load_target(name).toolchain.triple for name in ARM_BOARDS}
    assert {"aarch64-linux-gnu", "arm-linux-gnueabihf"} <= triples


@pytest.mark.parametrize("board", ARM_BOARDS)
def test_static_hello_world_builds_and_runs(board, tmp_path):
    target = load_target(board)
    require_tool(f"{target.toolchain.triple}-gcc")
    qemu = require_tool(target.qemu_binary)
    compiler = find_compiler(target)
    assert compiler.kind == "debian-cross", compiler
    source = tmp_path / "hello.c"
    source.write_text(HELLO)
    binary = tmp_path / "hello"
    build = subprocess.run([*compiler.command, *base_flags(compiler.cflags), *compiler.cflags, str(source),
                            *compiler.ldflags, "-lm", "-o", str(binary)], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    assert "-static" in compiler.ldflags
    run = subprocess.run([qemu, "-cpu", target.qemu_cpu, str(binary), "x"], capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (0, "hello 2 1.414\n"), run.stderr
