"""Validation of the ARM estimator against a published Raspberry Pi 4 / Pi 5 measurement.

    python bench/arm/bench_validate_sysbench.py [--events 20]

The kernel is sysbench's CPU test (sysbench 1.0.20, ``sysbench cpu --threads=1``): one event
counts the primes below 10,000 by trial division with 64-bit unsigned integers, each divisor
compared as a double with the candidate's square root. It is written here from that description, cross-compiled for the board
with the board's own compiler and flags, run under qemu-user with the counting plugin (the events
between the runner-style hooks, so start-up is left out) and costed by llvm-mca for the board's
core, exactly as ``profile --estimate`` costs a layer. Estimated events per second =
clock / (estimated cycles per event).

Published single-core figures (Leon Code, "Raspberry Pi CPU Benchmarks",
https://leoncode.co.uk/articles/raspberry-pi-benchmarks, sysbench 1.0.20, ``--threads=1 --time=60``):
Raspberry Pi 4: 1477.83 events/s; Raspberry Pi 5: 2737.49 events/s. The page does not give the
clocks: a Pi 4 runs at 1.5 GHz (1.8 GHz on boards made from 2022), a Pi 5 at 2.4 GHz; both are
printed for the Pi 4.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from edgeconv.profile.elf_symbols import read_symbols  # noqa: E402
from edgeconv.profile.mca import block_cycles, core_for  # noqa: E402
from edgeconv.profile.qemu_count import count_instructions  # noqa: E402
from edgeconv.targets import load_target  # noqa: E402
from edgeconv.toolchain import find_compiler  # noqa: E402

PUBLISHED = {"rpi4": 1477.83, "rpi5": 2737.49}
CLOCKS_GHZ = {"rpi4": (1.5, 1.8), "rpi5": (2.4,)}
MAX_PRIME = 10000

PRIMES_C = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
void ec_profile_begin(int layer);
void ec_profile_end(int layer);
__attribute__((noinline)) void ec_profile_begin(int layer) { __asm__ volatile("" : : "r"(layer)); }
__attribute__((noinline)) void ec_profile_end(int layer) { __asm__ volatile("" : : "r"(layer)); }

/* One event: how many numbers in 3..max-1 have no divisor d with 2 <= d <= sqrt(n); the divisor
 * is compared with the square root as a double, as sysbench does. */
__attribute__((noinline)) static unsigned long long event(unsigned long long max)
{
    unsigned long long found = 0, n, d;
    double root;
    for (n = 3; n < max; ++n) {
        root = sqrt((double)n);
        for (d = 2; d <= root; ++d) {
            if (n % d == 0) {
                break;
            }
        }
        found += d > root;
    }
    return found;
}

__attribute__((noinline)) int run(int events, unsigned long long max)
{
    unsigned long long total = 0;
    int i;
    ec_profile_begin(0);
    for (i = 0; i < events; ++i) {
        total += event(max);
    }
    ec_profile_end(0);
    return (int)(total & 0x7f);
}

int main(int argc, char **argv)
{
    int events = argc > 1 ? atoi(argv[1]) : 1;
    printf("%d\n", run(events, %MAX%ULL));
    return 0;
}
"""


def estimate(board: str, events: int) -> float:
    """Estimated cycles of one event on ``board``'s core."""
    target = load_target(board)
    compiler = find_compiler(target)
    with tempfile.TemporaryDirectory(prefix="bench-sysbench-") as tmp:
        source, program = Path(tmp) / "primes.c", Path(tmp) / "primes"
        source.write_text(PRIMES_C.replace("%MAX%", str(MAX_PRIME)))
        subprocess.run([*compiler.command, *compiler.cflags, str(source), "-o", str(program), *compiler.ldflags, "-lm"],
                       check=True)
        counts = count_instructions(target.qemu_binary, target.qemu_cpu, program, [events], home_function="run")
        symbols = read_symbols(program)
    call = counts.layer_calls()[0]
    cycles = block_cycles({b: counts.blocks[b] for b in call}, core_for(symbols.machine, target.cpu.llvm_mca_cpu),
                          symbols.is_thumb)
    return sum(cycles[b] * n for b, n in call.items()) / events, counts.instructions(call) / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    print("| board | llvm-mca cpu | instructions/event | est. cycles/event | clock GHz | est. events/s | published | est./published |")
    print("|---|---|---|---|---|---|---|---|")
    for board, published in PUBLISHED.items():
        cycles, instructions = estimate(board, args.events)
        for clock in CLOCKS_GHZ[board]:
            rate = clock * 1e9 / cycles
            print(f"| {board} | {load_target(board).cpu.llvm_mca_cpu} | {instructions:,.0f} | {cycles:,.0f} | {clock} "
                  f"| {rate:,.0f} | {published:,.0f} | {rate / published:.2f} |")


if __name__ == "__main__":
    main()
