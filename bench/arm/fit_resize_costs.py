"""Fit the NEON int8 bilinear resize's ARM figures from the instrument (qemu-user + llvm-mca).

    python bench/arm/fit_resize_costs.py [--boards rpi4,rpi5]   -> bench/results/resize_arm.json

For each board (rpi4: the ``arm`` level on its Cortex-A72; rpi5: ``arm-dotprod``, Cortex-A76) a
grid of one-resize int8 models (``GRID``: FPN-style 2x steps at half-pixel centers and with
``align_corners``, a downsampling, channel counts on and off the kernel's 16-channel blocks) is
estimated layer by layer (``edgeconv profile --runner qemu --estimate``' instrument), and
``edgeconv.profile.arm_fit`` fits ``ArmElementCost("block", ...)``: cycles per output pixel and
16-channel block (a last block of fewer channels counted whole: its 8-channel half step and scalar
tail cost from a little to more than a full block), per pixel with such a partial block, and per
call. (Per output element instead, the fit misses maps of 4 channels, all scalar tail, by 80%.)
The boards' ``layer_overhead_cycles``
are 0 (each kernel carries its own cost per call, ``fit_arm_costs.py``), so the fit's per-layer
overhead goes into the figure's ``call``. Printed: the figures in the registry's form
(``Kernel.arm_element``) and each case's estimate against the fit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from bench_resize import resize_graph  # noqa: E402
from common import write_results  # noqa: E402

from edgeconv.kernels.arm_work import ArmElementCost  # noqa: E402
from edgeconv.profile.arm_fit import Row, fit  # noqa: E402
from edgeconv.profile.estimate import estimate_graph  # noqa: E402
from edgeconv.select.latency import arm_element_terms  # noqa: E402
from edgeconv.targets import load_target  # noqa: E402
from edgeconv.toolchain import find_compiler  # noqa: E402

KERNEL = "ec_s8_resize_bilinear"
PER = "block"
# (channels, in H, in W, out H, out W, align_corners)
GRID = [(16, 8, 8, 16, 16, False), (32, 8, 8, 16, 16, False), (64, 8, 8, 16, 16, True), (24, 10, 10, 20, 20, False),
        (8, 16, 16, 32, 32, False), (70, 6, 6, 12, 12, False), (32, 16, 16, 8, 8, False), (128, 4, 4, 8, 8, True),
        (4, 16, 16, 32, 32, True), (48, 7, 7, 14, 14, False)]


def case_rows(board: str) -> list:
    target = load_target(board)
    compiler = find_compiler(target)
    rows = []
    for shape in GRID:
        graph = resize_graph(*shape, "int8")
        label = "{}x{}x{}->{}x{}".format(*shape[:5]) + (" ac" if shape[5] else "")
        layer = estimate_graph(graph, target, compiler, label=label).layers[0]
        terms = arm_element_terms(graph, graph.nodes[0], PER)
        rows.append(Row(("element", KERNEL, PER), terms, layer.compute_cycles, label))
        print(f"{board} {label}: {layer.compute_cycles:.0f} cycles", file=sys.stderr)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", default="rpi4,rpi5")
    args = parser.parse_args()
    results = {}
    for board in args.boards.split(","):
        rows = case_rows(board)
        fitted = fit(rows)
        fitted_cost = fitted.cost(rows[0].figure_set)
        cost = ArmElementCost(PER, fitted_cost.cycles, fitted_cost.partial, fitted_cost.call + fitted.layer_overhead)
        level = "arm-dotprod" if board == "rpi5" else "arm"
        print(f"{board} ({level}): {cost!r}")
        cases = []
        for row in rows:
            predicted = fitted.predict(row)
            cases.append({"case": row.model, "terms": row.terms, "estimated_cycles": row.cycles,
                          "fitted_cycles": predicted})
            print(f"  {row.model:<22} estimated {row.cycles:9.0f}  fit {predicted:9.0f}  ({predicted / row.cycles - 1:+.1%})")
        results[board] = {"level": level, "figures": {"per": cost.per, "cycles": cost.cycles, "partial": cost.partial,
                                                      "call": cost.call},
                          "cases": cases}
    print(f"wrote {write_results('resize_arm', {'method': 'qemu-user + llvm-mca estimates', 'boards': results})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
