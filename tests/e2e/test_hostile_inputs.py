"""Hostile-but-ordinary use of the command line, one row per fault (DESIGN §3).

Each row runs the real ``edgeconv`` program in a fresh working directory and holds it to the
contract for input that cannot be served: the expected exit code, one line on stderr naming the
fault (the row's fragment), no traceback, nothing on stdout, and no ``.partial`` staging
directory or stray file left behind.

A row's ``argv`` is formatted with the workspace's names: ``{tmp}`` the working directory,
``{model}`` a tiny float ONNX model, ``{out}`` a finished ``compress`` output (host target,
every artifact) that the row may damage. ``setup(tmp)`` prepares anything else the row needs
and returns extra names for the format.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import pytest

from tests.conftest import write_tiny_onnx

PROGRAM = [sys.executable, "-c", "from edgeconv.cli import main; main()"]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple
    code: int
    fragment: str
    setup: Optional[Callable[[Path], dict]] = None
    needs_out: bool = False
    timeout: float = 120.0
    env: dict = field(default_factory=dict)


CASES: list[Case] = [
    # --- model files and frontends -------------------------------------------------------------
    # --- names that become paths, --out and --force --------------------------------------------
    # --- options, data and board files ---------------------------------------------------------
    # --- verify, build and the runner ----------------------------------------------------------
]


@pytest.fixture(scope="module")
def compressed_out(tmp_path_factory) -> Path:
    """One finished host compress of the tiny model, copied for each row that damages it."""
    root = tmp_path_factory.mktemp("hostile_out")
    model = write_tiny_onnx(root / "tiny.onnx")
    result = subprocess.run([*PROGRAM, "compress", str(model), "--target", "host", "--precisions", "int8",
                             "--out", str(root / "out"), "--quiet"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return root / "out"


def _leftovers(directory: Path) -> list:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if p.name.endswith(".partial") or p.name.endswith(".old"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path, request):
    names = {"tmp": tmp_path, "model": write_tiny_onnx(tmp_path / "tiny.onnx")}
    if case.needs_out:
        names["out"] = tmp_path / "out"
        shutil.copytree(request.getfixturevalue("compressed_out"), names["out"])
    if case.setup is not None:
        names.update(case.setup(tmp_path))
    before = {p for p in tmp_path.rglob("*")}
    argv = [str(a).format(**names) for a in case.argv]
    env = {**os.environ, **case.env}
    result = subprocess.run([*PROGRAM, *argv], cwd=tmp_path, capture_output=True, text=True,
                            timeout=case.timeout, stdin=subprocess.DEVNULL, env=env)
    assert result.returncode == case.code, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("edgeconv: error: "), result.stderr
    assert case.fragment in lines[-1], (case.fragment, lines[-1])
    assert _leftovers(tmp_path) == []
    if case.code == 2:  # refused input: one sentence, nothing written anywhere
        assert len(lines) == 1 and result.stdout == "", (result.stdout[-2000:], result.stderr)
        new = {p for p in tmp_path.rglob("*")} - before
        assert not new, sorted(str(p) for p in new)
