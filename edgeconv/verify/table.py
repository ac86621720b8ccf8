"""verify.json as a rich table."""

from __future__ import annotations

from rich.table import Table


def _text(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def verify_table(result: dict) -> Table:
    """``result``: the content of verify.json."""
    table = Table("runtime", "version", "passed", "bit exact", "max |diff|", "top-1 agree", "accuracy", "latency ms")
    for name, row in result["runtimes"].items():
        diff = _text(row.get("max_abs_diff"))
        if row.get("max_abs_diff_unit") == "lsb":
            diff += " LSB"
        agreement = _text(row.get("top1_agreement"))
        if row.get("top1_unit") == "position":
            agreement += " of positions"
        passed = "[green]yes[/green]" if row.get("passed") else "[red]NO[/red]"
        table.add_row(name, _text(row.get("version")), passed, _text(row.get("bit_exact")), diff,
                      agreement, _text(row.get("accuracy")), _text(row.get("latency_ms")))
    return table
