"""Cycles per execution of each translation block on a named core, from LLVM's ``llvm-mca``.

A block's bytes (from the counting plugin, :mod:`.qemu_count`) are split into instructions
(AArch64 and A32: 4 bytes; Thumb: 2, or 4 when the first halfword starts with 0b11101, 0b11110 or
0b11111, the Thumb-2 32-bit prefixes of the Arm ARM), disassembled by ``llvm-mc --disassemble``
(each distinct instruction once), and every block becomes one ``llvm-mca`` code region. One
``llvm-mca -mtriple=T -mcpu=CPU -iterations=N`` run analyses all regions; a block's cycles are the
region's "Total Cycles" divided by ``N``: the steady-state cost of the block run back to back,
which is what a hot loop body does (the pipeline's fill and drain, a few tens of cycles, are spread
over ``N`` iterations).

What llvm-mca does not model is charged one cycle per instruction and counted as *unmodelled*:
calls (``bl``/``blr``/``blx``, which llvm-mca would give a made-up 100-cycle latency), bytes that do
not disassemble, and instructions the assembler or scheduling model rejects. Thumb ``IT``
instructions are among them: a translation block may start inside an IT block, so the IT
instructions are left out and the assembler makes its own for the conditional instructions
(``-arm-implicit-it=always``). llvm-mca assumes
every load hits L1 and every branch is predicted; the memory term is added per layer by
:mod:`.estimate`.

Results are cached per (LLVM version, triple, CPU) in ``<cache>/mca/`` under a hash of the
region's text, so estimating the same code again costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..host_tools import cache_root
from .elf_symbols import EM_AARCH64

ITERATIONS = 200
TOOL_TIMEOUT_S = 1800
MAX_RETRIES = 50
_CALL = re.compile(r"^\s*(bl|blr|blx)\b")
_THUMB_IT = re.compile(r"^\s*it[te]{0,3}\s")
_FEATURES = {"aarch64": "+neon,+dotprod,+i8mm,+fullfp16,+crc,+lse,+rcpc", "arm": "+neon,+crc,+hwdiv,+hwdiv-arm,+fp-armv8"}


@dataclass(frozen=True)
class Core:
    """What llvm-mca is asked to model: ``aarch64`` or ``arm`` code on ``cpu`` (``-mcpu``)."""

    arch: str
    cpu: str

    def triple(self, thumb: bool) -> str:
        if self.arch == "aarch64":
            return "aarch64-linux-gnu"
        return "thumbv7a-linux-gnueabihf" if thumb else "armv7a-linux-gnueabihf"


def core_for(machine: int, cpu: str) -> Core:
    return Core("aarch64" if machine == EM_AARCH64 else "arm", cpu)


def llvm_tool(name: str) -> str:
    """``llvm-mca`` / ``llvm-mc`` on PATH (or the newest ``name-NN``); UserError naming the package."""
    found = shutil.which(name)
    if found:
        return found
    for version in range(30, 10, -1):
        found = shutil.which(f"{name}-{version}")
        if found:
            return found
    raise UserError(f"{name} is not installed: install the Debian package llvm")


def split_instructions(code: bytes, thumb: bool) -> list:
    """The instructions of a block's bytes, in order."""
    if not thumb:
        return [code[i:i + 4] for i in range(0, len(code) - 3, 4)]
    out, i = [], 0
    while i + 1 < len(code):
        first = int.from_bytes(code[i:i + 2], "little")
        size = 4 if first >> 11 in (0b11101, 0b11110, 0b11111) else 2
        out.append(code[i:i + size])
        i += size
    return out


def block_instructions(block, thumb: bool) -> list:
    """A translation block's own instructions: the first ``n_insns`` of its bytes. A Thumb block
    that QEMU 7.2 ends at a page boundary reports the first halfword beyond it as well (the plugin
    API's bytes of its last instruction); that halfword is not the block's, and half of a 32-bit
    instruction among the instructions ``disassemble`` is given would shift the decoding of all
    those after it."""
    return split_instructions(block.code, thumb)[: block.n_insns]


def disassemble(instructions: list, triple: str, arch: str) -> dict:
    """bytes -> assembly text for each distinct instruction (None where it does not decode).

    llvm-mc reads its input as one stream: every instruction must be whole, or the texts would
    belong to other bytes, and a Thumb IT instruction would make the (unrelated) instructions after
    it conditional, so each IT is decoded alone."""
    distinct = sorted(set(instructions))
    if not triple.startswith("thumb"):
        return _decode(distinct, triple, arch)
    decoded = _decode([i for i in distinct if not _is_thumb_it(i)], triple, arch)
    for insn in filter(_is_thumb_it, distinct):
        decoded.update(_decode([insn], triple, arch))
    return decoded


def _is_thumb_it(insn: bytes) -> bool:
    """IT: the 16-bit encoding 0xBFxy with a mask y other than 0 (0xBFx0 are hints such as NOP)."""
    halfword = int.from_bytes(insn, "little")
    return len(insn) == 2 and halfword >> 8 == 0xBF and halfword & 0xF != 0


def _decode(distinct: list, triple: str, arch: str) -> dict:
    """One llvm-mc run over ``distinct`` instructions; a count of decoded lines other than one per
    decodable instruction is refused."""
    if not distinct:
        return {}
    text = "".join(" ".join(f"0x{b:02x}" for b in insn) + "\n" for insn in distinct)
    proc = subprocess.run([llvm_tool("llvm-mc"), "--disassemble", f"-triple={triple}", f"-mattr={_FEATURES[arch]}"],
                          input=text, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    bad = {int(m.group(1)) - 1 for m in re.finditer(r"<stdin>:(\d+):\d+: warning: invalid instruction encoding", proc.stderr)}
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip() and not line.strip().startswith(".")]
    if len(lines) != len(distinct) - len(bad):
        raise UserError(f"llvm-mc decoded {len(lines)} instructions from {len(distinct) - len(bad)} ({triple}): "
                        "its texts would not match their bytes")
    decoded, it = {}, iter(lines)
    for i, insn in enumerate(distinct):
        decoded[insn] = None if i in bad else next(it, None)
    return decoded


@dataclass
class _Region:
    lines: list          # assembly lines llvm-mca is given
    unmodelled: int      # instructions charged one cycle each instead


def _cache_file(core: Core, triple: str) -> Path:
    version = subprocess.run([llvm_tool("llvm-mca"), "--version"], capture_output=True, text=True).stdout
    match = re.search(r"version (\S+)", version)
    return cache_root() / "mca" / f"{triple}-{core.cpu}-llvm{match.group(1) if match else 'unknown'}.json"


def block_cycles(blocks: dict, core: Core, is_thumb=lambda address: False) -> dict:
    """block id -> estimated cycles per execution on ``core``, for the :class:`Block` values given."""
    by_triple: dict = {}
    for block_id, block in blocks.items():
        thumb = core.arch == "arm" and is_thumb(block.vaddr)
        by_triple.setdefault(core.triple(thumb), {})[block_id] = block_instructions(block, thumb)
    cycles = {}
    for triple, insns in by_triple.items():
        cycles.update(_cycles_for(insns, core, triple))
    return cycles


def _cycles_for(insns: dict, core: Core, triple: str) -> dict:
    decoded = disassemble([i for block in insns.values() for i in block], triple, core.arch)
    regions = {}
    for block_id, block in insns.items():
        texts = [decoded[i] for i in block]
        kept = [t for t in texts if t is not None and not _CALL.match(t) and not _THUMB_IT.match(t)]
        regions[block_id] = _Region(kept, len(texts) - len(kept))
    cache_path = _cache_file(core, triple)
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    keys = {block_id: hashlib.sha1("\n".join(r.lines).encode()).hexdigest() for block_id, r in regions.items()}
    missing = {keys[b]: regions[b] for b in regions if keys[b] not in cache and regions[b].lines}
    if missing:
        cache.update(_run_mca(missing, core, triple))
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        partial = cache_path.with_name(f"{cache_path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(cache))
        partial.replace(cache_path)
    return {b: (cache[keys[b]] if regions[b].lines else 0.0) + regions[b].unmodelled for b in regions}


def _run_mca(regions: dict, core: Core, triple: str) -> dict:
    """region key -> cycles per iteration; lines the tool rejects are dropped (one cycle each)."""
    regions = {key: _Region(list(r.lines), 0) for key, r in regions.items()}
    for _ in range(MAX_RETRIES):
        source, where = _regions_source(regions)
        with tempfile.NamedTemporaryFile("w", suffix=".s") as f:
            f.write(source)
            f.flush()
            thumb = ["-arm-implicit-it=always"] if triple.startswith("thumb") else []
            proc = subprocess.run([llvm_tool("llvm-mca"), f"-mtriple={triple}", f"-mcpu={core.cpu}", *thumb,
                                   f"-mattr={_FEATURES[core.arch]}", f"-iterations={ITERATIONS}", f.name],
                                  capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
        rejected = _rejected_lines(proc.stderr, source)  # llvm-mca may name errors and still exit 0
        if not rejected:
            if proc.returncode != 0:
                raise UserError(f"llvm-mca -mcpu={core.cpu} failed: {proc.stderr.strip().splitlines()[:1]}")
            totals = _region_totals(proc.stdout)
            # a region the tool leaves out of its report is charged one cycle per instruction
            return {key: (totals[key] / ITERATIONS if key in totals else len(r.lines)) + r.unmodelled
                    for key, r in regions.items()}
        for line_no in rejected:
            key, index = where[line_no]
            regions[key].lines[index] = None
        for r in regions.values():
            r.unmodelled += sum(1 for line in r.lines if line is None)
            r.lines = [line for line in r.lines if line is not None]
    raise UserError(f"llvm-mca -mcpu={core.cpu} kept rejecting the code after {MAX_RETRIES} attempts")


def _region_totals(report: str) -> dict:
    """region key -> "Total Cycles" from llvm-mca's report (each region's section names its key)."""
    totals, key = {}, None
    for line in report.splitlines():
        named = re.match(r"^\[\d+\] Code Region - (\S+)", line)
        if named:
            key = named.group(1)
        total = re.match(r"^Total Cycles:\s+(\d+)", line)
        if total and key is not None:
            totals[key] = int(total.group(1))
    return totals


def _regions_source(regions: dict) -> tuple:
    """The assembly file with one region per key, and line number -> (key, index in region)."""
    lines, where = [], {}
    for key, region in regions.items():
        if not region.lines:
            continue
        lines.append(f"# LLVM-MCA-BEGIN {key}")
        for i, text in enumerate(region.lines):
            where[len(lines) + 1] = (key, i)
            lines.append(text)
        lines.append("# LLVM-MCA-END")
    return "\n".join(lines) + "\n", where


def _rejected_lines(stderr: str, source: str) -> set:
    """Line numbers the assembler named, or that hold the instruction the scheduling model refused."""
    numbers = {int(n) for n in re.findall(r"^[^:\n]+\.s:(\d+):\d+: error", stderr, re.M)}
    note = re.search(r"note: instruction:\s*(.+)", stderr)
    if note:
        wanted = " ".join(note.group(1).split())
        numbers |= {i + 1 for i, line in enumerate(source.splitlines()) if " ".join(line.split()) == wanted}
    return numbers
