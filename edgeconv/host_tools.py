"""What the build machine lends edgeconv's own tools: a folder in the user's cache and a C compiler.

The cache folder is ``$EDGECONV_CACHE_DIR``, else ``$XDG_CACHE_HOME/edgeconv``, else
``~/.cache/edgeconv``: measured latency tables, sensitivities, the QEMU plugin and llvm-mca
results, the measured host clock. The host C compiler builds the tools that run on the build
machine itself (the QEMU instruction-counting plugin, the clock probe): the first of ``cc``,
``gcc`` and ``clang`` on the PATH.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional


def cache_root() -> Path:
    """edgeconv's folder in the user's cache."""
    if os.environ.get("EDGECONV_CACHE_DIR"):
        return Path(os.environ["EDGECONV_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeconv"


def host_compiler() -> Optional[str]:
    """The path of the build machine's C compiler, or None where there is none."""
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    return None
