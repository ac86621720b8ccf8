"""All-or-nothing outputs: a command that fails leaves no partial directory or file behind.

Work is written into a temporary directory (or file) created *beside* the destination, on the
same file system, and renamed onto it only when the work has succeeded. ``os.rename`` of a
directory and ``os.replace`` of a file are atomic there, so a reader sees either no output or a
complete one. On any exception the temporary copy is deleted and the exception goes on.

An existing destination is refused (:class:`~edgeconv.errors.UserError`) unless ``force`` is
given; then the old one is replaced only after the new one is complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import UserError


def check_free(out: Path, force: bool) -> None:
    """Refuse an existing ``out`` unless ``force`` (called before any work starts)."""
    if out.exists() and not force:
        raise UserError(f"output {out} already exists; choose another --out or pass --force to replace it")
    if out.exists() and not out.is_dir() and force:
        raise UserError(f"output {out} exists and is not a directory; remove it first")


def _make_parents(path: Path) -> list[Path]:
    """Create the missing parents of ``path``; return them, deepest first, for cleanup on failure."""
    missing = [parent for parent in path.parents if not parent.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_if_empty(directories: list[Path]) -> None:
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            return


@contextmanager
def staged_directory(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``out``; on success it becomes ``out``.

    With ``force`` an existing ``out`` is moved aside, replaced, then deleted; without it an
    existing ``out`` is refused before anything is created. Parents created for ``out`` are
    removed again when the work fails.
    """
    out = Path(out)
    check_free(out, force)
    created = _make_parents(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield staging
        _commit_directory(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(created)
        raise


def _commit_directory(staging: Path, out: Path) -> None:
    staging.chmod(0o755)  # mkdtemp makes it 0700; give the result ordinary permissions
    if not out.exists():
        os.rename(staging, out)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    retired.rmdir()
    os.rename(out, retired)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(retired, out)
        raise
    shutil.rmtree(retired, ignore_errors=True)


@contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; on success it replaces ``path`` atomically."""
    path = Path(path)
    created = _make_parents(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        temporary_path.chmod(0o644)
        os.replace(temporary_path, path)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        _remove_if_empty(created)
        raise
