"""Finding a C compiler for a target.

Order of preference: the compiler named with ``--cc``; for the host, the system ``cc``; for an ARM
board, Debian's cross compiler for the target's triple (``aarch64-linux-gnu-gcc``,
``arm-linux-gnueabihf-gcc``), else ``zig cc`` from the ``ziglang`` wheel (static musl binaries).
ARM runners are linked statically so they run on any board's libc.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass

from .errors import UserError
from .targets import Target

UNKNOWN_VERSION = "unknown"  # a compiler whose --version says nothing (its objects are never cached)

VERSION_TIMEOUT_S = 60


@dataclass(frozen=True)
class Compiler:
    """A compiler command line (``command`` is a list: ``zig cc`` is several words)."""

    command: tuple
    kind: str  # "system", "debian-cross", "zig" or "user"
    version: str
    cflags: tuple
    ldflags: tuple

    def to_dict(self) -> dict:
        return {"command": list(self.command), "kind": self.kind, "version": self.version,
                "cflags": list(self.cflags), "ldflags": list(self.ldflags)}


def _version(command: tuple) -> str:
    try:
        proc = subprocess.run([*command, "--version"], capture_output=True, timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return UNKNOWN_VERSION
    lines = proc.stdout.decode(errors="replace").strip().splitlines()
    return lines[0] if lines else UNKNOWN_VERSION


def _zig_command(target: Target) -> tuple:
    return (sys.executable, "-m", "ziglang", "cc", "-target", target.toolchain.zig_target)


def find_compiler(target: Target, cc: str = None) -> Compiler:
    """The compiler to build ``target``'s runner with; UserError naming what to install if none."""
    tc = target.toolchain
    ldflags = ("-static",) if tc.static else ()
    cflags = tuple(tc.cflags)
    if cc:
        command = tuple(cc.split())
        if shutil.which(command[0]) is None:
            raise UserError(f"compiler {command[0]!r} given with --cc was not found")
        return Compiler(command, "user", _version(command), cflags, ldflags)
    if target.is_host:
        for name in ("cc", "gcc", "clang"):
            if shutil.which(name):
                return Compiler((name,), "system", _version((name,)), cflags, ldflags)
        raise UserError("no C compiler found for the host: install the Debian package gcc")
    cross = f"{tc.triple}-gcc"
    if shutil.which(cross):
        return Compiler((cross,), "debian-cross", _version((cross,)), cflags, ldflags)
    if importlib.util.find_spec("ziglang") is not None:
        return zig_compiler(target)
    raise UserError(
        f"no C compiler for target {target.name}: install the Debian package {tc.debian_package} "
        f"or run `pip install ziglang`"
    )


def _zig_cpu_spelling(flag: str) -> str:
    return f"-mcpu={flag[len('-mcpu='):].replace('-', '_')}" if flag.startswith("-mcpu=") else flag


def zig_compiler(target: Target) -> Compiler:
    """The zig path explicitly (used to test it even where a Debian cross compiler exists)."""
    if importlib.util.find_spec("ziglang") is None:
        raise UserError("zig is not installed: run `pip install ziglang`")
    tc = target.toolchain
    command = _zig_command(target)
    # zig's clang does not know GCC's -mfpu spellings for 32-bit ARM (its target triple and -mcpu
    # carry the same information), and it reads -mcpu as cpu[+feature][-feature]: GCC's
    # "cortex-a72" would parse as CPU "cortex" minus feature "a72"; zig spells it "cortex_a72".
    flags = tuple(_zig_cpu_spelling(f) for f in tc.cflags if not f.startswith(("-mfpu", "-mfloat-abi")))
    return Compiler(command, "zig", _version(command[:-2]), flags, ("-static",) if tc.static else ())
