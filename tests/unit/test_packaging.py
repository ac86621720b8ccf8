"""The built wheel carries targets/, kernels_c/ and runtimes/, and works installed, from any directory."""

from __future__ import annotations

import importlib.resources
import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from edgeconv import resources
from tests.conftest import require_tool, write_tiny_onnx

REPO = Path(__file__).resolve().parents[2]
PACKAGED_TREES = ("edgeconv", "runtimes", "kernels_c", "targets")
PROJECT_FILES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "NOTICE")
# Where each top-level tree lands inside the wheel (see setup.py).
WHEEL_PREFIX = {
    "edgeconv": "edgeconv",
    "runtimes": "edgeconv/runtimes",
    "kernels_c": "edgeconv/_bundled/kernels_c",
    "targets": "edgeconv/_bundled/targets",
}
REQUIRED_IN_WHEEL = (
    "edgeconv/cli.py",
    "edgeconv/_bundled/targets/rpi4.toml",
    "edgeconv/_bundled/targets/host.toml",
    "edgeconv/runtimes/__init__.py",
    "edgeconv/runtimes/c/edgeconv_run.c",
)


def _project_files() -> list:
    """Files of the packaged trees as git sees them: tracked, plus new files that are not ignored."""
    git = require_tool("git")
    listed = subprocess.run(
        [git, "ls-files", "--cached", "--others", "--exclude-standard", "--", *PACKAGED_TREES],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    return [name for name in listed if name and (REPO / name).is_file() and "__pycache__" not in name]


def _in_wheel_name(name: str) -> str:
    tree, _, rest = name.partition("/")
    return f"{WHEEL_PREFIX[tree]}/{rest}"


@pytest.fixture(scope="module")
def project_files() -> list:
    return _project_files()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory, project_files) -> Path:
    """A wheel built from a copy of the project's files (the checkout stays free of build output)."""
    source = tmp_path_factory.mktemp("source")
    for name in [*PROJECT_FILES, *project_files]:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "--wheel-dir", str(dist), str(source)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (built,) = dist.glob("edgeconv-*.whl")
    return built


@pytest.mark.slow
def test_wheel_holds_every_project_file(wheel, project_files):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in REQUIRED_IN_WHEEL:
        assert required in names, required
    assert any(n.startswith("edgeconv/_bundled/kernels_c/portable/") and n.endswith(".c") for n in names)
    assert any(n.startswith("edgeconv/_bundled/kernels_c/include/") and n.endswith(".h") for n in names)
    missing = [name for name in project_files if _in_wheel_name(name) not in names]
    assert missing == [], f"files left out of the wheel (add their pattern to DATA_FILES in setup.py): {missing}"
    licences = {n.rsplit("/", 1)[-1] for n in names if ".dist-info/" in n}
    assert {"LICENSE", "NOTICE"} <= licences


@pytest.mark.slow
def test_installed_wheel_works_from_another_directory(wheel, tmp_path):
    """Install into a fresh venv (dependencies borrowed from this environment) and run it elsewhere."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    # A plain path line: this environment's packages become importable; its .pth files (the
    # editable install of the checkout) are not run, so `edgeconv` comes from the wheel only.
    (site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    probe = (
        "import importlib.resources, json, edgeconv, edgeconv.runtimes\n"
        "from edgeconv import resources\n"
        "c_files = sorted(p.name for p in (resources.kernels_dir() / 'portable').glob('*.c'))\n"
        "runner = importlib.resources.files('edgeconv.runtimes') / 'c' / 'edgeconv_run.c'\n"
        "print(json.dumps({'package': edgeconv.__file__, 'targets': str(resources.targets_dir()),\n"
        "  'kernels': str(resources.kernels_dir()), 'runtimes_c': str(resources.runtimes_c_dir()),\n"
        "  'c_files': c_files, 'runner_source': runner.is_file()}))\n"
    )
    found = json.loads(subprocess.run([python, "-c", probe], cwd=elsewhere, capture_output=True, text=True, check=True).stdout)
    for key in ("package", "targets", "kernels", "runtimes_c"):
        assert found[key].startswith(str(site)), (key, found[key])
    assert found["c_files"] and found["runner_source"]

    script = venv / "bin" / "edgeconv"
    listed = subprocess.run([script, "targets", "--json"], cwd=elsewhere, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "rpi4" in {board["name"] for board in json.loads(listed.stdout)}

    model = write_tiny_onnx(elsewhere / "tiny.onnx")
    inspected = subprocess.run([script, "inspect", model.name, "--target", "rpi4", "--json"], cwd=elsewhere,
                               capture_output=True, text=True)  # fmt: skip
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["predicted_ms"] > 0


def test_resources_of_the_source_checkout():
    """In the editable install the data folders are read in place, next to the package."""
    assert resources.targets_dir() == REPO / "targets"
    assert resources.kernels_dir() == REPO / "kernels_c"
    assert resources.runtimes_c_dir() == REPO / "runtimes" / "c"
    assert (resources.targets_dir() / "rpi4.toml").is_file()
    assert any((resources.kernels_dir() / "portable").glob("*.c"))
    assert (importlib.resources.files("edgeconv.runtimes") / "c" / "edgeconv_run.c").is_file()
