"""Where the files that travel with edgeconv live: board TOMLs, C kernels, the C runner.

The repository keeps ``targets/``, ``kernels_c/`` and ``runtimes/`` beside the ``edgeconv``
package. A built wheel carries them inside it (see ``setup.py``): ``runtimes/`` is the package
``edgeconv.runtimes``, ``targets/`` and ``kernels_c/`` are folders under ``edgeconv/_bundled/``.
In a source checkout (an editable install) they are read in place. These functions return the
right folder in both cases.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED_DIR = _PACKAGE_DIR / "_bundled"
_CHECKOUT_DIR = _PACKAGE_DIR.parent


def _data_folder(name: str) -> Path:
    """``name`` from the wheel's bundled copy, else from the source checkout holding the package."""
    bundled = _BUNDLED_DIR / name
    if bundled.is_dir():
        return bundled
    in_checkout = _CHECKOUT_DIR / name
    if in_checkout.is_dir() and (_CHECKOUT_DIR / "pyproject.toml").is_file():
        return in_checkout
    raise FileNotFoundError(
        f"edgeconv's {name}/ folder is missing from this installation; reinstall edgeconv"
    )


def targets_dir() -> Path:
    """Folder of the board files ``<name>.toml`` (DESIGN §4)."""
    return _data_folder("targets")


def kernels_dir() -> Path:
    """Root of the C kernel sources: ``include/``, ``portable/``, ``arm/``, ``x86/``."""
    return _data_folder("kernels_c")


def runtimes_c_dir() -> Path:
    """Sources of the on-device runner ``edgeconv_run`` (``runtimes/c``)."""
    return Path(str(importlib.resources.files("edgeconv.runtimes") / "c"))
