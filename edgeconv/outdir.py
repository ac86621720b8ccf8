"""All-or-nothing outputs: a command that fails leaves no partial directory or file behind.

Work is written into a temporary directory (or file) created *beside* the destination, on the
same file system, and renamed onto it only when the work has succeeded. ``os.rename`` of a
directory and ``os.replace`` of a file are atomic there, so a reader sees either no output or a
complete one. On any exception, ``KeyboardInterrupt`` and the command line's signal exceptions
included, the temporary copy, the lock file and any parent directories created for the output
are deleted and the exception goes on.

While the work runs, a lock file beside the destination (``.<name>.lock``) is held with
``fcntl.flock``: a second edgeconv process writing the same destination is refused at once
(:class:`~edgeconv.errors.UserError`) instead of replacing the first one's output.

An existing destination directory is refused unless ``force`` is given. Even with ``force`` it is
replaced only when edgeconv wrote it (it holds the :data:`MARKER_FILE` that every staged
directory gets, or a ``report.json``) and it is not ``/``, the home directory, or the current
directory or one of its ancestors; the old one is deleted only after the new one is complete.

A destination that cannot be created (a read-only or missing parent, a file in its path, a name
too long for the file system) is a UserError naming it, not a traceback.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import stop_signals
from .errors import UserError
from .names import MAX_NAME_LENGTH, path_component_from

# Written into every directory edgeconv commits: what ``force`` may replace.
MARKER_FILE = ".edgeconv-output"
# compress's report: every OUT holds one, so outputs written before the marker existed are
# recognised by it.
REPORT_FILE = "report.json"


# ---- checks made before any work --------------------------------------------------------------


def check_free(out: Path, force: bool) -> None:
    """Refuse an existing ``out`` unless ``force`` may replace it (called before any work starts)."""
    out = Path(out)
    with _as_user_error(out):
        exists = out.exists() or out.is_symlink()
    if not exists:
        return
    if not force:
        raise UserError(f"output {out} already exists; choose another --out or pass --force to replace it")
    if not out.is_dir():
        raise UserError(f"output {out} exists and is not a directory; remove it first")
    _check_replaceable(out)


def _check_replaceable(out: Path) -> None:
    """``--force`` replaces only an output edgeconv wrote, and never a directory the user lives in."""
    resolved = out.resolve()
    if resolved == Path("/") or resolved == Path.home().resolve() or Path.cwd().resolve().is_relative_to(resolved):
        raise UserError(f"{out} is not replaced: it is the root, the home or the current directory "
                        "or one of its ancestors")
    if not any((out / name).is_file() for name in (MARKER_FILE, REPORT_FILE)):
        raise UserError(f"{out} was not written by edgeconv (it holds no {MARKER_FILE} or {REPORT_FILE}), "
                        "so it is not replaced; remove it yourself or write elsewhere")


# ---- errors of the file system -------------------------------------------------------------------


def _reason(err: OSError) -> str:
    if isinstance(err, PermissionError) or err.errno == errno.EROFS:
        return f"no permission to write there ({err.strerror})"
    if isinstance(err, (FileExistsError, NotADirectoryError)):
        return "a part of its path is a file, not a directory"
    if err.errno == errno.ENAMETOOLONG:
        return "a name in it is too long for the file system"
    return err.strerror or str(err)


@contextmanager
def _as_user_error(out: Path) -> Iterator[None]:
    """File-system failures while preparing or committing ``out`` become one UserError naming it."""
    try:
        yield
    except OSError as err:
        raise UserError(f"output {out} cannot be written: {_reason(err)}") from None


# ---- names beside the destination ----------------------------------------------------------------


def _sibling_stem(name: str) -> str:
    """``name`` when a staging or lock name built from it fits the file-name limit, else a short
    stand-in that still names it (a cut, sanitized copy and a hash of the whole)."""
    if len(name.encode()) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{path_component_from(name, 64)}-{digest}"


def _staging_path(out: Path, suffix: str) -> Path:
    return out.parent / f".{_sibling_stem(out.name)}.{secrets.token_hex(6)}{suffix}"


def _lock_path(out: Path) -> Path:
    return out.parent / f".{_sibling_stem(out.name)}.lock"


# ---- parents and the lock ----------------------------------------------------------------------


@contextmanager
def _parents_of(out: Path) -> Iterator[None]:
    """Create the missing parents of ``out``; remove those again (deepest first) when the body fails."""
    with _as_user_error(out):
        missing = [parent for parent in out.parents if not parent.exists()]
    try:
        with _as_user_error(out):
            out.parent.mkdir(parents=True, exist_ok=True)
        yield
    except BaseException:
        _remove_if_empty(missing)
        raise


def _remove_if_empty(directories: list[Path]) -> None:
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            return


def _take_lock(lock: Path, out: Path) -> int:
    """An open descriptor of ``lock`` holding its exclusive flock; a UserError when another holds it."""
    while True:
        with _as_user_error(out):
            descriptor = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise UserError(f"output {out} is being written by another edgeconv process; wait for it to finish "
                            "or choose another --out") from None
        if _still_linked(descriptor, lock):
            return descriptor
        os.close(descriptor)  # the holder removed this file as we opened it: lock the new one


def _still_linked(descriptor: int, lock: Path) -> bool:
    try:
        return os.stat(lock).st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold the lock file beside ``out`` for the body; the file is removed afterwards."""
    lock = _lock_path(out)
    descriptor = None
    try:
        descriptor = _take_lock(lock, out)
        yield
    finally:
        if descriptor is not None:
            lock.unlink(missing_ok=True)
            os.close(descriptor)


# ---- staged outputs -------------------------------------------------------------------------------


@contextmanager
def staged_directory(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``out``; on success it becomes ``out``.

    ``out`` is locked against other edgeconv processes for the whole body. Without ``force`` an
    existing ``out`` is refused before anything is created, and an ``out`` that appears meanwhile
    is never replaced; with ``force`` an existing ``out`` that edgeconv wrote is moved aside,
    replaced, then deleted. Parents created for ``out`` are removed again when the work fails.
    """
    out = Path(out)
    check_free(out, force)
    with _parents_of(out), _locked(out):
        check_free(out, force)  # again, now that no other edgeconv process can be writing it
        staging = _staging_path(out, ".partial")
        try:
            with _as_user_error(out):
                staging.mkdir()
            yield staging
            stop_signals.check()
            (staging / MARKER_FILE).write_text("written by edgeconv; --force may replace this directory\n")
            _commit_directory(staging, out, force)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _commit_directory(staging: Path, out: Path, force: bool) -> None:
    check_free(out, force)  # a directory that appeared during the work is not replaced without force
    with _as_user_error(out):
        if not out.exists():
            os.rename(staging, out)
            return
        retired = _staging_path(out, ".old")
        os.rename(out, retired)
        try:
            os.rename(staging, out)
        except BaseException:
            os.rename(retired, out)
            raise
    _discard(retired)


def _discard(path: Path) -> None:
    """Delete a replaced output: the directory, or only the link when ``--out`` was a symbolic link."""
    if path.is_symlink():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; on success it replaces ``path`` atomically.

    Like :func:`staged_directory`, ``path`` is locked against other edgeconv processes while the
    body runs, and parents created for it are removed again when the work fails.
    """
    path = Path(path)
    with _as_user_error(path):
        path.exists()  # a name the file system cannot hold fails here, before any work
    with _parents_of(path), _locked(path):
        temporary = _staging_path(path, ".partial")
        try:
            with _as_user_error(path):
                temporary.touch(mode=0o600, exist_ok=False)
            yield temporary
            stop_signals.check()
            with _as_user_error(path):
                temporary.chmod(0o644)
                os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
