"""Benchmark: the inner loops of the NEON int8 kernels, estimated by llvm-mca for each bundled ARM
board's core, in MACs per cycle and as a share of the board's int8 peak.

    python bench/arm/bench_neon_loops.py [--boards rpi4,rpi5,...] [--json OUT]

Each kernel of kernels_c/arm is compiled to assembly with the board's cross compiler, compiler
flags and kernel set (``edgeconv.kernels.isa``); its hottest loop is the basic block that branches
back to its own label and holds the most multiply instructions (SDOT, SMULL, SMLAL). The MACs of
one iteration are counted from the block's instructions (SDOT 16, SMULL/SMULL2 and SMLAL/SMLAL2 on .8h
8 int8 products, SMLAL/SMLAL2 on .4s 4), and llvm-mca (``-mcpu`` from the board's ``llvm_mca_cpu``) gives the
cycles of ``ITERATIONS`` back-to-back iterations. A loop figure leaves out everything outside
the loop (the output stage, tile edges, memory stalls): it bounds the kernel's efficiency from
above; ``bench_arm_goals.py`` estimates whole layers.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from edgeconv.kernels.isa import target_kernel_set  # noqa: E402
from edgeconv.resources import kernels_dir  # noqa: E402
from edgeconv.targets import list_targets, load_target  # noqa: E402

ITERATIONS = 300
KERNELS = ("ec_s8_conv2d_1x1", "ec_s8_conv2d_im2col", "ec_s8_conv2d_slidingwin", "ec_s8_fully_connected", "ec_s8_dwconv2d_3x3",
           "ec_s8_dwconv2d_generic")
MACS = ((re.compile(r"\bsdot\s"), 16), (re.compile(r"\b(smull|smlal)2?\s+v\d+\.8h"), 8),
        (re.compile(r"\b(smull|smlal)2?\s+v\d+\.4s"), 4))  # by the destination's lanes: int8 or int16 sources
LABEL = re.compile(r"^(\.L\w+):")


def hot_loop(asm: str) -> list:
    """The instructions of the self-looping block with the most multiplies."""
    best, label, body = (0, []), None, []
    for line in asm.splitlines():
        m = LABEL.match(line)
        if m:
            label, body = m.group(1), []
            continue
        if label is None or not line.startswith("\t") or line.strip().startswith("."):
            continue
        body.append(line.strip())
        if re.match(r"b(\.\w+|gt|ne|lt|le|ge|hi|cc|cs)?\s+" + re.escape(label) + r"$", line.strip()):
            count = sum(map(macs_of, body))
            if count > best[0]:
                best = (count, list(body))
    return best[1]


def macs_of(instruction: str) -> int:
    for pattern, macs in MACS:
        if pattern.search(instruction):
            return macs
    return 0


def estimate(board: str, name: str, work: Path) -> dict:
    target = load_target(board)
    kernels = target_kernel_set(target)
    asm = work / f"{board}-{name}.s"
    cc = f"{target.toolchain.triple}-gcc"
    subprocess.run([cc, *target.toolchain.cflags, *kernels.flags, f"-I{kernels_dir() / 'include'}", "-S",
                    str(kernels_dir() / "arm" / f"{name}.c"), "-o", str(asm)], check=True)
    loop = hot_loop(asm.read_text())
    loop_file = work / f"{board}-{name}-loop.s"
    loop_file.write_text("\n".join(loop) + "\n")
    mca = subprocess.run(["llvm-mca", "-mtriple=aarch64", f"-mcpu={target.cpu.llvm_mca_cpu}",
                          f"-iterations={ITERATIONS}", str(loop_file)], capture_output=True, text=True, check=True).stdout
    cycles = int(re.search(r"Total Cycles:\s+(\d+)", mca).group(1)) / ITERATIONS
    macs = sum(map(macs_of, loop))
    peak = target.peak("int8", kernels.features).mac_per_cycle
    return {"board": board, "core": target.cpu.llvm_mca_cpu, "level": kernels.level, "kernel": name,
            "macs_per_iteration": macs, "cycles_per_iteration": round(cycles, 2),
            "mac_per_cycle": round(macs / cycles, 2), "share_of_peak": round(macs / cycles / peak, 3), "peak": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boards", default=",".join(t.name for t in list_targets()
                                                     if not t.is_host and t.toolchain.triple.startswith("aarch64")))
    parser.add_argument("--json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ec_neon_loops_") as tmp:
        for board in args.boards.split(","):
            for name in KERNELS:
                rows.append(estimate(board, name, Path(tmp)))
    print(f"{'board':18} {'core':13} {'level':12} {'kernel':24} {'MAC/iter':>8} {'cyc/iter':>8} {'MAC/c':>6} {'peak':>5}")
    for r in rows:
        print(f"{r['board']:18} {r['core']:13} {r['level']:12} {r['kernel']:24} {r['macs_per_iteration']:8d} "
              f"{r['cycles_per_iteration']:8.1f} {r['mac_per_cycle']:6.2f} {100 * r['share_of_peak']:4.0f}%")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
