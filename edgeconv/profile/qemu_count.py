"""Dynamic instruction counts of an ARM program under qemu-user, per translation block and segment.

The counting is done by edgeconv's own QEMU TCG plugin (``runtimes/qemu_plugin/ec_insn_count.c``),
compiled with the host C compiler into a shared library the first time it is needed and kept in
the user's cache (``<cache>/qemu-plugin/``, named after a hash of the source and the compiler's
version, so an edited source or another compiler builds a new one). The program runs as

    qemu-aarch64 -cpu CPU -plugin LIB,out=F[,begin=A,end=A,home=LO-HI] program args...

and the plugin's report ``F`` lists every translation block (address, instruction count, bytes)
and, per segment, how often each block ran. Segments are cut at the runner's per-layer hooks
(``ec_profile_begin`` / ``ec_profile_end``): layer call ``k`` runs from the hook that opens it to the
one that closes it, the hooks' own instructions (a clock read) excluded; see the plugin's header.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import UserError
from ..host_tools import cache_root, host_compiler
from ..resources import runtimes_c_dir
from .elf_symbols import read_symbols

PLUGIN_NAME = "ec_insn_count"
PLUGIN_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fPIC", "-shared",
                "-fvisibility=hidden")
RUN_TIMEOUT_S = 1800
BEGIN_HOOK, END_HOOK = "ec_profile_begin", "ec_profile_end"


@dataclass(frozen=True)
class Block:
    """One translation block: its start address, instruction count and instruction bytes."""

    vaddr: int
    n_insns: int
    code: bytes


@dataclass
class Segment:
    kind: str     # "g" glue (outside layers), "l" a layer call, "h" a hook's own instructions
    index: int    # layer call number for "l"
    counts: Counter = field(default_factory=Counter)  # block id -> executions


@dataclass
class BlockCounts:
    blocks: dict      # block id -> Block
    segments: list    # Segment, in execution order

    def instructions(self, counts: Optional[Counter] = None) -> int:
        """Instructions executed by ``counts`` (default: the whole run)."""
        counts = self.total_counts() if counts is None else counts
        return sum(self.blocks[b].n_insns * n for b, n in counts.items())

    def total_counts(self) -> Counter:
        total = Counter()
        for segment in self.segments:
            total.update(segment.counts)
        return total

    def layer_calls(self) -> dict:
        """layer call number -> Counter of block executions in that call."""
        calls: dict = {}
        for segment in self.segments:
            if segment.kind == "l":
                calls.setdefault(segment.index, Counter()).update(segment.counts)
        return calls


def plugin_library() -> Path:
    """The compiled plugin, built into the user's cache on first use."""
    source = Path(runtimes_c_dir()).parent / "qemu_plugin" / f"{PLUGIN_NAME}.c"
    cc = host_compiler()
    if cc is None:
        raise UserError("the instruction-counting plugin needs a host C compiler: install the Debian package gcc")
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    digest = hashlib.sha256(source.read_bytes() + version.encode() + " ".join(PLUGIN_FLAGS).encode()).hexdigest()[:16]
    library = cache_root() / "qemu-plugin" / f"{PLUGIN_NAME}-{digest}.so"
    if library.is_file():
        return library
    library.parent.mkdir(parents=True, exist_ok=True)
    partial = library.with_name(f"{library.name}.{os.getpid()}.tmp")  # builds in parallel do not collide
    proc = subprocess.run([cc, *PLUGIN_FLAGS, str(source), "-o", str(partial)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"compiling the QEMU plugin {source} failed:\n{proc.stderr.strip()}")
    partial.replace(library)
    return library


def plugin_arguments(program: Path, home_function: Optional[str]) -> list:
    """``begin=``, ``end=`` and ``home=`` for a program that has the runner's layer hooks."""
    symbols = read_symbols(program)
    if BEGIN_HOOK not in symbols.functions:
        return []
    args = [f"begin={symbols.function(BEGIN_HOOK)[0]:x}", f"end={symbols.function(END_HOOK)[0]:x}"]
    if home_function is not None:
        start, size = symbols.function(home_function)
        args.append(f"home={start:x}-{start + size:x}")
    return args


def count_instructions(qemu_binary: str, qemu_cpu: str, program: Path, args: list, cwd: Optional[Path] = None,
                       home_function: Optional[str] = None) -> BlockCounts:
    """Run ``program args`` under ``qemu_binary -cpu qemu_cpu`` with the plugin; its counts.

    When the program has the runner's layer hooks, the run is cut into segments at them;
    ``home_function`` names the function that makes the layer calls (the model's ``run``).
    """
    if shutil.which(qemu_binary) is None:
        raise UserError(f"{qemu_binary} is not installed: install the Debian package qemu-user")
    program = Path(program).resolve()
    with tempfile.TemporaryDirectory(prefix="edgeconv-count-") as tmp:
        report = Path(tmp) / "counts.txt"
        plugin = ",".join([str(plugin_library()), f"out={report}", *plugin_arguments(program, home_function)])
        command = [qemu_binary, "-cpu", qemu_cpu, "-plugin", plugin, str(program), *map(str, args)]
        try:
            proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise UserError(f"{program.name} under {qemu_binary} with the counting plugin did not finish "
                            f"within {RUN_TIMEOUT_S} s") from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            raise UserError(f"{program.name} under {qemu_binary} failed: {tail[-1] if tail else proc.returncode}")
        return parse_report(report.read_text())


def parse_report(text: str) -> BlockCounts:
    """The plugin's report (format in its header) as :class:`BlockCounts`."""
    blocks, segments = {}, []
    for line in text.splitlines():
        fields = line.split()
        if fields[0] == "s":
            segments.append(Segment(fields[1], int(fields[2])))
        elif fields[0] == "c":
            segments[-1].counts[int(fields[1])] += int(fields[2])
        elif fields[0] == "b":
            code = bytes.fromhex(fields[4]) if len(fields) > 4 else b""
            blocks[int(fields[1])] = Block(int(fields[2], 16), int(fields[3]), code)
    return BlockCounts(blocks, [s for s in segments if s.kind != "e"])
