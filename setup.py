"""Package layout for setuptools (metadata lives in pyproject.toml).

The repository keeps three top-level folders beside the Python package, and all three must be
inside the built wheel so that ``pip install .`` gives a working ``edgeconv`` from any directory:

- ``runtimes/``  -> the importable package ``edgeconv.runtimes`` (adapters, runners, ``c/`` sources);
- ``targets/``   -> ``edgeconv/_bundled/targets`` (board TOMLs and latency tables);
- ``kernels_c/`` -> ``edgeconv/_bundled/kernels_c`` (C kernel sources and headers).

Every folder below those roots is listed as a package (namespace packages need no
``__init__.py``), so each file matching ``DATA_FILES`` travels with it. ``edgeconv.resources``
finds the data folders both in a wheel and in a source checkout (editable install).
"""

import os

from setuptools import find_namespace_packages, setup

MAPPED_ROOTS = {
    "edgeconv.runtimes": "runtimes",
    "edgeconv._bundled.targets": "targets",
    "edgeconv._bundled.kernels_c": "kernels_c",
}

# Non-Python files a package folder may carry: board files, C sources, templates, bundled data.
DATA_FILES = [
    "*.toml", "*.json", "*.c", "*.h", "*.S", "*.txt", "*.md", "*.in", "*.tmpl", "*.j2",
    "*.html", "*.css", "*.js", "*.cmake", "Makefile", "CMakeLists.txt",
    "*.npz", "*.npy", "*.pt", "*.pt2", "*.onnx", "*.tflite", "*.sh",
]

SKIPPED = ["__pycache__", "*.__pycache__", "*.egg-info"]


def packages_under(directory: str, package: str) -> list[str]:
    """``package`` and every folder below ``directory``, named as subpackages of ``package``."""
    children = find_namespace_packages(where=directory, exclude=SKIPPED)
    return [package] + [f"{package}.{child}" for child in children]


def present_roots() -> dict[str, str]:
    """The mapped roots that exist in this tree (tests/unit/test_packaging.py checks all do)."""
    return {package: directory for package, directory in MAPPED_ROOTS.items() if os.path.isdir(directory)}


def all_packages() -> list[str]:
    packages = find_namespace_packages(include=["edgeconv", "edgeconv.*"], exclude=SKIPPED)
    for package, directory in present_roots().items():
        packages += packages_under(directory, package)
    return packages


setup(
    packages=all_packages(),
    package_dir=present_roots(),
    package_data={"": DATA_FILES},
)
