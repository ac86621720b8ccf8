"""`edgeconv profile`: measure a latency table on the board itself and save it.

Timings must come from the real machine: ``local`` for the host (the default there), an
``ssh://user@host[:port]`` runner for a board (required for ARM targets). ``qemu`` is refused, as
emulated times say nothing about the board. The table is written to ``temporary_path``, which
``edgeconv.api`` renames to the user's cache (or ``--out``) when this returns. An existing table
there for the same target and compiler is kept and updated (see ``LatencyTable.merged_into``), so
profiling several models builds up one table for the board.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..errors import UserError
from ..select.latency_table import merged_with_saved, save_table
from ..toolchain import find_compiler
from ..verify.c_runners import make_runner
from .verify import check_reachable


def _runner_spec(request) -> str:
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
    table, summary = profile_target(request.target, runner, compiler, model=request.model)
    table = merged_with_saved(table, request.out)
    summary.entries = len(table.entries)
    save_table(table, temporary_path)
    return {**asdict(summary), "table": str(request.out)}
