"""`edgeconv build`: compile OUT/c and its runner into ``edgeconv_run`` for a target.

The compiler comes from :func:`edgeconv.toolchain.find_compiler` (``--cc``, the system ``cc`` for
the host, Debian's cross compiler for an ARM board, else ``zig cc``); the compilation, the choice
of kernel files and ``build.json`` are :mod:`edgeconv.backends.c.runner_build`'s. The runner is
built in a staging directory, which ``edgeconv.api`` renames to ``OUT/build/<target>/``.
"""

from __future__ import annotations

from pathlib import Path

from ..backends.c.runner_build import build_runner
from ..toolchain import find_compiler

C_DIR = "c"


def build(request, staging: Path) -> dict:
    """``edgeconv build OUT``: the runner for ``request.target`` in ``staging``; its build record."""
    compiler = find_compiler(request.target, request.cc)
    return build_runner(Path(request.out) / C_DIR, request.target, compiler, staging, profile=request.profile,
                        threads=request.target.threads).to_dict()
