"""edgeconv.outdir: outputs appear whole or not at all, once, and only where edgeconv may write.

The last tests drive the real ``edgeconv`` program: two concurrent ``compress`` runs on one OUT,
SIGTERM and SIGINT in the middle of a run, and an OUT in a directory the user may not write.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from edgeconv.stop_signals import STOP_SIGNALS
from edgeconv.errors import UserError
from edgeconv.outdir import MARKER_FILE, check_free, staged_directory, staged_file
from tests.conftest import TINY_CLASSES, TINY_INPUT_SHAPE, require_tool, write_tiny_onnx

PROGRAM = [sys.executable, "-c", "from edgeconv.cli import main; main()"]


def names(directory: Path) -> list:
    return sorted(p.name for p in directory.iterdir())


def edgeconv_output(path: Path) -> Path:
    with staged_directory(path) as staging:
        (staging / "report.json").write_text("{}")
    return path


def test_success_renames_the_staging_directory_and_marks_it(tmp_path):
    out = tmp_path / "runs" / "model-rpi4"
    with staged_directory(out) as staging:
        assert staging.parent == out.parent and staging != out and not out.exists()
        assert names(out.parent) == [staging.name, ".model-rpi4.lock"]
        (staging / "report.json").write_text("{}")
    assert names(out) == [MARKER_FILE, "report.json"]
    assert names(out.parent) == ["model-rpi4"]  # no staging, no lock file
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_failure_leaves_nothing_not_even_new_parents(tmp_path):
    out = tmp_path / "runs" / "deeper" / "model-rpi4"
    with pytest.raises(RuntimeError, match="half-way"):
        with staged_directory(out) as staging:
            (staging / "model.onnx").write_bytes(b"partial")
            raise RuntimeError("half-way")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_cleans_up_like_an_error(tmp_path):
    out = tmp_path / "runs" / "out"
    with pytest.raises(KeyboardInterrupt):
        with staged_directory(out) as staging:
            (staging / "half.bin").write_bytes(b"x" * 1000)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_existing_out_refused_then_replaced_with_force(tmp_path):
    out = edgeconv_output(tmp_path / "out")
    (out / "old.txt").write_text("old")
    with pytest.raises(UserError, match="already exists; choose another --out or pass --force"):
        with staged_directory(out):
            pytest.fail("the body must not run")
    assert (out / "old.txt").read_text() == "old"

    with pytest.raises(ValueError):
        with staged_directory(out, force=True) as staging:
            (staging / "new.txt").write_text("new")
            raise ValueError("the new run fails")
    assert names(tmp_path) == ["out"]
    assert names(out) == [MARKER_FILE, "old.txt", "report.json"]  # the old output survives a failed run

    with staged_directory(out, force=True) as staging:
        (staging / "new.txt").write_text("new")
    assert names(out) == [MARKER_FILE, "new.txt"]
    assert names(tmp_path) == ["out"]


def test_force_replaces_an_output_with_a_report_written_before_the_marker(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")
    with staged_directory(out, force=True) as staging:
        (staging / "new.txt").write_text("new")
    assert names(out) == [MARKER_FILE, "new.txt"]


def test_force_never_replaces_a_directory_edgeconv_did_not_write(tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(UserError, match=f"^{re.escape(str(mine))} was not written by edgeconv .*{MARKER_FILE}.* it is not replaced"):
        with staged_directory(mine, force=True):
            pytest.fail("the body must not run")
    assert names(mine) == ["holiday.jpg"] and names(tmp_path) == ["photos"]


@pytest.mark.parametrize("where", ["root", "home", "cwd", "parent of cwd"])
def test_force_never_replaces_root_home_or_the_working_directory(tmp_path, monkeypatch, where):
    home, work = tmp_path / "home", tmp_path / "home" / "project"
    work.mkdir(parents=True)
    for directory in (home, work):
        (directory / "report.json").write_text("{}")  # looks like an output: still refused
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    out = {"root": Path("/"), "home": home, "cwd": Path("."), "parent of cwd": Path("..")}[where]
    with pytest.raises(UserError, match="is not replaced: it is the root, the home or the current directory"):
        check_free(out, force=True)
    assert names(work) == ["report.json"] and names(home) == ["project", "report.json"]


def test_a_file_in_the_way_is_refused_even_with_force(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(UserError, match="is not a directory"):
        check_free(tmp_path / "out", force=True)


def test_an_out_that_appears_during_the_work_is_not_replaced(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(UserError, match=f"output {re.escape(str(out))} already exists"):
        with staged_directory(out) as staging:
            (staging / "report.json").write_text("{}")
            out.mkdir()
            (out / "theirs.txt").write_text("written meanwhile")
    assert names(out) == ["theirs.txt"] and names(tmp_path) == ["out"]


def test_a_second_writer_of_the_same_out_is_refused_while_the_first_works(tmp_path):
    out = tmp_path / "out"
    with staged_directory(out) as staging:
        with pytest.raises(UserError, match=f"output {re.escape(str(out))} is being written by another edgeconv process"):
            with staged_directory(out, force=True):
                pytest.fail("the body must not run")
        with pytest.raises(UserError, match="being written by another edgeconv process"):
            with staged_file(out):
                pytest.fail("the body must not run")
        (staging / "report.json").write_text("{}")
    assert names(out) == [MARKER_FILE, "report.json"] and names(tmp_path) == ["out"]


def test_a_long_name_fits_and_a_too_long_one_is_named(tmp_path):
    out = tmp_path / ("n" * 250)  # the staging and lock names are shortened, OUT keeps its name
    with staged_directory(out) as staging:
        assert len(staging.name) < 128 and staging.name.endswith(".partial")
        (staging / "report.json").write_text("{}")
    assert names(tmp_path) == [out.name]
    too_long = tmp_path / ("n" * 300)
    with pytest.raises(UserError, match=f"output {re.escape(str(too_long))} cannot be written: a name in it is too long"):
        with staged_directory(too_long):
            pytest.fail("the body must not run")
    with pytest.raises(UserError, match="too long for the file system"):
        with staged_file(too_long):
            pytest.fail("the body must not run")
    assert names(tmp_path) == [out.name]


def test_an_out_under_a_file_is_named(tmp_path):
    (tmp_path / "notes.txt").write_text("a file")
    for out in (tmp_path / "notes.txt" / "out", tmp_path / "notes.txt" / "deeper" / "out"):
        with pytest.raises(UserError, match=f"output {re.escape(str(out))} cannot be written: a part of its path is a file"):
            with staged_directory(out):
                pytest.fail("the body must not run")
        with pytest.raises(UserError, match="a part of its path is a file"):
            with staged_file(out):
                pytest.fail("the body must not run")
    assert names(tmp_path) == ["notes.txt"]


def test_staged_file_replaces_whole_or_not_at_all(tmp_path):
    target = tmp_path / "verify.json"
    target.write_text("old")
    with pytest.raises(KeyError):
        with staged_file(target) as temporary:
            temporary.write_text("half")
            raise KeyError("broken")
    assert target.read_text() == "old"
    assert names(tmp_path) == ["verify.json"]
    with staged_file(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new"
    assert names(tmp_path) == ["verify.json"]
    with pytest.raises(OSError):
        with staged_file(tmp_path / "new" / "table.json") as temporary:
            raise OSError("profiling failed")
    assert names(tmp_path) == ["verify.json"]  # the created parent is gone again


# ---- the real program: concurrent runs, signals, permissions ---------------------------------------


@pytest.fixture(scope="module")
def slow_compress(tmp_path_factory):
    """Arguments of a compress run of the tiny model that fine-tunes long enough to be caught
    mid-way (the epochs are the knob), its model and data readable by every user."""
    root = Path(tempfile.mkdtemp(prefix="edgeconv-outdir-"))
    root.chmod(0o755)
    model = write_tiny_onnx(root / "tiny.onnx")
    rng = np.random.default_rng(0)
    np.savez(root / "calib.npz", x=rng.random((512, *TINY_INPUT_SHAPE[1:]), dtype=np.float32),
             y=rng.integers(0, TINY_CLASSES, 512))
    for path in root.iterdir():
        path.chmod(0o644)

    def args(out: Path, epochs: int) -> list:
        return ["compress", str(model), "--target", "host", "--data", str(root / "calib.npz"), "--precisions",
                "w4a4", "--epochs", str(epochs), "--out", str(out), "--quiet"]

    yield args
    shutil.rmtree(root, ignore_errors=True)


def _start(argv: list, cwd: Path) -> subprocess.Popen:
    def default_signals() -> None:
        """A test runner started in the background ignores SIGINT, and a test run in a worker thread
        may block it; the child gets what a command started from a terminal has."""
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    return subprocess.Popen([*PROGRAM, *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, preexec_fn=default_signals)


def _wait_for_staging(process: subprocess.Popen, directory: Path, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if directory.is_dir() and any(p.name.endswith(".partial") for p in directory.iterdir()):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"no staging directory appeared in {directory}")


@pytest.mark.slow
def test_a_second_concurrent_compress_of_the_same_out_exits_2(tmp_path, slow_compress):
    out = tmp_path / "out"
    first = _start(slow_compress(out, epochs=200), tmp_path)
    _wait_for_staging(first, tmp_path)
    second = subprocess.run([*PROGRAM, *slow_compress(out, epochs=0)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert first.poll() is None, "the first run ended before the second was refused: raise its epochs"
    assert second.returncode == 2, second.stderr
    assert second.stdout == "" and second.stderr.splitlines() == [
        f"edgeconv: error: output {out} is being written by another edgeconv process; wait for it to finish "
        "or choose another --out"]
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert stdout.startswith(f"wrote {out}")
    assert names(tmp_path) == ["out"] and (out / "report.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_removes_everything_and_exits_128_plus_n(tmp_path, slow_compress, signum, code):
    out = tmp_path / "runs" / "deep" / "out"
    run = _start(slow_compress(out, epochs=200), tmp_path)
    _wait_for_staging(run, out.parent)
    run.send_signal(signum)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == code, stderr
    assert stdout == "" and stderr.splitlines() == [
        f"edgeconv: interrupted by {signal.Signals(signum).name}; unfinished outputs were removed"]
    assert names(tmp_path) == []  # no staging directory, no lock file, no parents created for OUT


def test_an_out_in_a_directory_the_user_may_not_write_exits_2(slow_compress):
    """Root writes anywhere, so as root the run drops to the ``nobody`` user to meet a real EACCES."""
    wrapper = []
    if os.geteuid() == 0:
        wrapper = [require_tool("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    root = Path(tempfile.mkdtemp(prefix="edgeconv-readonly-"))
    try:
        locked = root / "locked"
        locked.mkdir()
        for directory in (root, locked):
            directory.chmod(0o555)
        out = locked / "out"
        env = {**os.environ, "HOME": str(root), "EDGECONV_CACHE_DIR": str(root / "cache")}
        result = subprocess.run([*wrapper, *PROGRAM, *slow_compress(out, epochs=0)], cwd=root, capture_output=True,
                                text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stdout == "" and result.stderr.splitlines() == [
            f"edgeconv: error: output {out} cannot be written: no permission to write there (Permission denied)"]
        assert names(locked) == []
    finally:
        root.chmod(0o755)
        shutil.rmtree(root)
