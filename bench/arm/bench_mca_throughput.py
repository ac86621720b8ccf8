"""Benchmark: llvm-mca's throughput of the instructions edgeconv's ARM kernels live on, against the
figures the boards' TOMLs cite from the cores' optimization guides.

    python bench/arm/bench_mca_throughput.py

For each bundled AArch64 board, eight independent copies of one instruction (no dependency
between them) are given to ``llvm-mca -mcpu=<[cpu] llvm_mca_cpu> -iterations=1000``; the printed
figure is instructions per cycle. Beside it, the rate the board's ``[[peak]]`` entries imply:
``mac_per_cycle`` divided by the MACs of one instruction (SMLAL Vd.8H: 8 int8 MACs; SDOT Vd.4S:
16; FMLA Vd.4S: 4 fp32), each entry citing its guide. Where the two disagree, the estimate of a
kernel bound by that instruction is off by the same factor.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from edgeconv.profile.mca import llvm_tool  # noqa: E402
from edgeconv.targets import list_targets  # noqa: E402

ITERATIONS = 1000
COPIES = 8
# instruction template, peak class, MACs per instruction, ISA feature the peak entry requires
INSTRUCTIONS = {
    "SMLAL .8h": ("smlal v{i}.8h, v30.8b, v31.8b", "int8", 8, None),
    "SDOT .4s": ("sdot v{i}.4s, v30.16b, v31.16b", "int8", 16, "dotprod"),
    "FMLA .4s": ("fmla v{i}.4s, v30.4s, v31.4s", "fp32", 4, None),
}


def per_cycle(cpu: str, template: str) -> float:
    source = "\n".join(template.format(i=i) for i in range(COPIES)) + "\n"
    with tempfile.NamedTemporaryFile("w", suffix=".s") as f:
        f.write(source)
        f.flush()
        out = subprocess.run([llvm_tool("llvm-mca"), "-mtriple=aarch64", f"-mcpu={cpu}", "-mattr=+dotprod",
                              f"-iterations={ITERATIONS}", f.name], capture_output=True, text=True, check=True).stdout
    cycles = int(re.search(r"^Total Cycles:\s+(\d+)", out, re.M).group(1))
    return COPIES * ITERATIONS / cycles


def documented(target, peak_class: str, macs: int, feature) -> float | None:
    entries = [p for p in target.peaks if p.precision == peak_class
               and (feature in p.requires if feature else not p.requires)]
    if not entries or (feature and not target.cpu.has(feature)):
        return None
    return entries[0].mac_per_cycle / macs


def main() -> None:
    print("| board | llvm-mca cpu | " + " | ".join(f"{name}: mca / guide" for name in INSTRUCTIONS) + " |")
    print("|---|---|" + "---|" * len(INSTRUCTIONS))
    for target in list_targets():
        if target.is_host or not target.cpu.llvm_mca_cpu or not target.toolchain.triple.startswith("aarch64"):
            continue
        cells = []
        for template, peak_class, macs, feature in INSTRUCTIONS.values():
            guide = documented(target, peak_class, macs, feature)
            model = per_cycle(target.cpu.llvm_mca_cpu, template)
            cells.append(f"{model:.2f} / {guide:.2f}" if guide is not None else f"{model:.2f} / -")
        print(f"| {target.name} ({target.cpu.model}) | {target.cpu.llvm_mca_cpu} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
