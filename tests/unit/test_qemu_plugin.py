"""The instruction-counting QEMU plugin and the llvm-mca costing on loops of known length.

A small C program with a hand-written loop (two instructions per iteration: subtract and branch)
is cross-compiled for aarch64 and armhf and run under qemu-user with the plugin: the loop's block
must run exactly ``n`` times inside the layer call that runs it, the layer calls must differ by
exactly two instructions per extra iteration, and the segments must add up to the whole run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgeconv.profile.elf_symbols import EM_AARCH64, EM_ARM, read_symbols
from edgeconv.errors import UserError
from edgeconv.profile.mca import block_cycles, block_instructions, core_for, disassemble, split_instructions
from edgeconv.profile.qemu_count import count_instructions, parse_report
from tests.conftest import require_tool

# spin(n): n iterations of "subtract one, branch back while not zero", then return.
LOOPS_C = r"""
#include <stdlib.h>
void ec_profile_begin(int layer);
void ec_profile_end(int layer);
void spin(long n);
#if defined(__aarch64__)
__asm__(".text\n.global spin\n.type spin, %function\n"
        "spin: subs x0, x0, #1\n b.ne spin\n ret\n.size spin, .-spin\n");
#else
__asm__(".text\n.syntax unified\n.thumb\n.global spin\n.thumb_func\n.type spin, %function\n"
        "spin: subs r0, r0, #1\n bne spin\n bx lr\n.size spin, .-spin\n");
#endif
__attribute__((noinline)) void ec_profile_begin(int layer) { __asm__ volatile("" : : "r"(layer)); }
__attribute__((noinline)) void ec_profile_end(int layer) { __asm__ volatile("" : : "r"(layer)); }
__attribute__((noinline)) int run(long n)
{
    ec_profile_begin(0); spin(n); ec_profile_end(0);
    ec_profile_begin(1); spin(3 * n); ec_profile_end(1);
    return 0;
}
int main(int argc, char **argv) { return run(argc > 1 ? atol(argv[1]) : 1000); }
"""

ARCHES = {
    "aarch64": ("aarch64-linux-gnu-gcc", "qemu-aarch64", "cortex-a72", EM_AARCH64),
    "armhf": ("arm-linux-gnueabihf-gcc", "qemu-arm", "max", EM_ARM),
}


@pytest.fixture(scope="module", params=sorted(ARCHES))
def loops(request, tmp_path_factory):
    cc, qemu, cpu, machine = ARCHES[request.param]
    require_tool(cc)
    require_tool(qemu)
    program = tmp_path_factory.mktemp(request.param) / "loops"
    source = program.with_suffix(".c")
    source.write_text(LOOPS_C)
    subprocess.run([cc, "-O2", "-static", str(source), "-o", str(program)], check=True)
    return program, qemu, cpu, machine


def _spin_block(counts, program):
    spin = read_symbols(program).function("spin")[0]
    return next(b for b, block in counts.blocks.items() if block.vaddr == spin)


@pytest.mark.parametrize("n", [1000, 4321])
def test_loop_blocks_run_exactly_n_times_in_their_layer_call(loops, n):
    program, qemu, cpu, _ = loops
    counts = count_instructions(qemu, cpu, program, [n], home_function="run")
    spin = _spin_block(counts, program)
    calls = counts.layer_calls()
    assert sorted(calls) == [0, 1]
    assert counts.blocks[spin].n_insns == 2
    assert calls[0][spin] == n and calls[1][spin] == 3 * n
    # the same code around the loop in both calls: 2 instructions per extra iteration, exactly
    assert counts.instructions(calls[1]) - counts.instructions(calls[0]) == 2 * (3 * n - n)
    # segments (layers, glue, hooks) partition the run
    assert sum(counts.instructions(s.counts) for s in counts.segments) == counts.instructions()
    assert [s.kind for s in counts.segments] == ["g", "h", "l", "h", "g", "h", "l", "h", "g"]


def test_whole_run_grows_by_two_instructions_per_iteration(loops):
    program, qemu, cpu, _ = loops
    small = count_instructions(qemu, cpu, program, [1000]).instructions()
    large = count_instructions(qemu, cpu, program, [6000]).instructions()
    assert large - small == 2 * (4 * 6000 - 4 * 1000)


def test_llvm_mca_costs_the_loop_by_its_dependency_chain(loops):
    """subs + branch: a one-cycle chain through the counter, which the out-of-order cores run at
    one iteration per cycle; no core runs it faster (LLVM's in-order A53/A55 models charge more)."""
    require_tool("llvm-mca")
    program, qemu, cpu, machine = loops
    counts = count_instructions(qemu, cpu, program, [100], home_function="run")
    spin = _spin_block(counts, program)
    symbols = read_symbols(program)
    assert symbols.machine == machine

    def cycles(core):
        return block_cycles({spin: counts.blocks[spin]}, core_for(machine, core), symbols.is_thumb)[spin]

    out_of_order = ("cortex-a72", "cortex-a76") if machine == EM_AARCH64 else ("cortex-a57",)
    for core in out_of_order:
        assert cycles(core) == pytest.approx(1.0, abs=0.05), core
    for core in ("cortex-a53", "cortex-a55") if machine == EM_AARCH64 else ():
        assert cycles(core) >= 1.0, core


def test_thumb_instructions_are_split_by_their_first_halfword():
    # movs r0, #0 (16-bit); mov.w r0, #0 (32-bit, first halfword 0xf04f); bx lr (16-bit)
    code = bytes.fromhex("0020" "4ff00000" "7047")
    assert split_instructions(code, thumb=True) == [code[:2], code[2:6], code[6:]]
    assert split_instructions(bytes(8), thumb=False) == [bytes(4), bytes(4)]


def test_a_thumb_block_keeps_only_its_own_instructions():
    # a block QEMU ends at a page boundary after movs r0, #0 reports the first halfword beyond it
    # (here the first half of a mov.w): not one of the block's instructions
    from edgeconv.profile.qemu_count import Block

    block = Block(0x11ffe, 1, bytes.fromhex("0020" "4ff0"))
    assert block_instructions(block, thumb=True) == [bytes.fromhex("0020")]


def test_each_instruction_gets_its_own_text_in_one_decoding_run():
    """llvm-mc reads one byte stream: an IT before unrelated instructions would make them
    conditional, an SDIV it did not know (the A53 runs it in AArch32) would shift the rest."""
    require_tool("llvm-mc")
    it_eq, mov, sdiv, movw, bx = (bytes.fromhex(h) for h in ("08bf", "0846", "92fbf1f2", "4ff00000", "7047"))
    texts = disassemble([it_eq, mov, sdiv, movw, bx], "thumbv7a-linux-gnueabihf", "arm")
    assert texts[it_eq].split()[:2] == ["it", "eq"]
    assert texts[mov].split() == ["mov", "r0,", "r1"]
    assert texts[sdiv].split() == ["sdiv", "r2,", "r2,", "r1"]
    assert texts[movw].split() == ["mov.w", "r0,", "#0"]
    assert texts[bx].split() == ["bx", "lr"]
    with pytest.raises(UserError, match="would not match their bytes"):  # half of a mov.w
        disassemble([bytes.fromhex("4ff0"), mov, bx], "thumbv7a-linux-gnueabihf", "arm")


def test_report_parsing_keeps_segments_in_order():
    text = "s g 0\nc 0 3\ns l 0\nc 1 10\ns g 1\nc 0 1\ns e 0\nb 0 400000 2 00000000000000000\nb 1 400010 3 \n"
    counts = parse_report(text.replace("00000000000000000", "0" * 16))
    assert [s.kind for s in counts.segments] == ["g", "l", "g"]
    assert counts.instructions() == 3 * 2 + 10 * 3 + 1 * 2
    assert counts.instructions(counts.layer_calls()[0]) == 30


def test_thumb_blocks_with_it_instructions_are_costed():
    """A Thumb block with an IT block (itt eq; moveq r0, r1; addeq r0, #1; bx lr): the IT is left to
    the assembler, which the conditional instructions still need."""
    require_tool("llvm-mca")
    from edgeconv.profile.qemu_count import Block

    block = Block(0x10000, 4, bytes.fromhex("04bf" "0846" "0130" "7047"))
    cycles = block_cycles({0: block}, core_for(EM_ARM, "cortex-a57"), lambda address: True)
    assert 1.0 <= cycles[0] < 10.0
