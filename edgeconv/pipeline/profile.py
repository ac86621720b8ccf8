"""`edgeconv profile`: measure a latency table on the board itself and save it.

Timings must come from the real machine: ``local`` for the host (the default there), an
``ssh://user@host[:port]`` runner for a board (required for ARM targets). ``qemu`` is refused, as
emulated times say nothing about the board, except with ``--estimate``: then every graph is run
once under qemu-user, its instructions counted and costed by llvm-mca for the board's core
(``edgeconv.profile.estimate``), and the table says ``estimated (qemu+llvm-mca)``. The table is written to ``temporary_path``, which
``edgeconv.api`` renames to the user's cache (or ``--out``) when this returns. An existing table
there for the same target and compiler is kept and updated (see ``LatencyTable.merged_into``), so
profiling several models builds up one table for the board.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..errors import UserError
from ..select.latency_table import ESTIMATED_METHOD, MEASURED_METHOD, merged_with_saved, save_table
from ..toolchain import find_compiler
from ..verify.c_runners import make_runner
from .verify import check_reachable


def _runner_spec(request) -> str:
    if request.estimate:
        if request.target.is_host:
            raise UserError("--estimate is for ARM boards under qemu; profile the host itself with --runner local")
        if request.runner not in (None, "qemu"):
            raise UserError(f"--estimate counts instructions under qemu, not on {request.runner}: use --runner qemu")
        return "qemu"
    if request.runner == "qemu":
        raise UserError("profile measures the board itself; timings under qemu are not the board's: "
                        "use --runner ssh://user@host[:port] (or local on the board)")
    if request.runner is None and not request.target.is_host:
        raise UserError(f"profiling {request.target.name} needs the board: pass --runner ssh://user@host[:port]")
    return request.runner or "local"


def profile(request, temporary_path: Path) -> dict:
    """Measure, save the table at ``temporary_path``, and return a summary (with the table's path)."""
    from ..profile import profile_target  # edgeconv.profile builds through this package: import late

    runner = make_runner(_runner_spec(request), request.target)
    check_reachable(runner)
    compiler = find_compiler(request.target)
    estimator = None
    if request.estimate:
        from ..profile.estimate import Estimator

        estimator = Estimator(request.target, compiler)
    chosen = {"precisions": request.precisions} if request.precisions else {}
    table, summary = profile_target(request.target, runner, compiler, model=request.model, measure=estimator,
                                    method=ESTIMATED_METHOD if estimator else MEASURED_METHOD, **chosen)
    table = merged_with_saved(table, request.out)
    summary.entries = len(table.entries)
    save_table(table, temporary_path)
    result = {**asdict(summary), "table": str(request.out)}
    if estimator is not None:
        result["estimates"] = [estimate.to_dict() for estimate in estimator.estimates]
        if estimator.estimates:  # the first graph: the model at int8 on the kernels compress picks
            result["layers"], result["total"] = result["estimates"][0]["layers"], result["estimates"][0]["total"]
    return result
