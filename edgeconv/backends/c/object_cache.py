"""Compiled kernel objects, kept between builds in the user's cache (``objects/``).

Every build of a generated project compiles the kernel files it carries, and those files are the
same from one model to the next, and from a model's release build to its next one. The x86 GEMM
kernels are the slow part of a build (their register tiles are unrolled function by function).
So each kernel file is compiled once per key and its object reused by every later build. The key
hashes:

- the compiler: its command and the first line of its ``--version``; a compiler whose version
  cannot be read is never cached;
- every flag of the compile (optimization, instruction set, defines such as ``EC_PROFILE`` and
  ``EC_THREADS``; include folders are not flags here);
- the kernel file's bytes and, by name and bytes, every header of the project's ``include/`` that
  it includes, directly or through another header (``kernels.registry.headers_for``). A kernel is
  compiled with that folder as its only include folder, so it cannot read any other project file.

System headers are the compiler's and libc's: a libc upgrade that changes them without a new
compiler version is not seen (delete the folder after one). The compiles a build is missing run in
parallel, one per core. An object is written under a temporary name and renamed into place, so a
build running beside another never reads half of one. A hit renews the object's time; beyond
``MAX_CACHE_BYTES`` the objects least recently used are removed. Where the folder cannot be
written the objects are compiled into a temporary folder, for that build only.
``EDGECONV_OBJECT_CACHE`` names another folder.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Sequence

from ...errors import UserError
from ...host_tools import cache_root
from ...kernels.registry import headers_for
from ...toolchain import UNKNOWN_VERSION

OBJECT_CACHE_ENV = "EDGECONV_OBJECT_CACHE"
MAX_CACHE_BYTES = 512 * 1024 * 1024
COMPILE_TIMEOUT_S = 600


def cache_folder() -> Path:
    """Where compiled kernel objects are kept."""
    return Path(os.environ.get(OBJECT_CACHE_ENV) or cache_root() / "objects")


class CompileFailure(UserError):
    """A compiler command that ran and failed: its diagnostics (``stderr``) and, for a kernel file
    compiled into an object, the file (``source``)."""

    def __init__(self, message: str, stderr: str, source: Optional[Path] = None):
        super().__init__(message)
        self.stderr = stderr
        self.source = source


def run_compiler(command: Sequence[str], what: str, source: Optional[Path] = None) -> None:
    """Run one compiler command; a failure is a CompileFailure, a missing compiler or a compile past
    COMPILE_TIMEOUT_S a UserError, each starting with ``what``."""
    try:
        proc = subprocess.run(list(command), capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} did not finish within {COMPILE_TIMEOUT_S} s") from None
    except FileNotFoundError:
        raise UserError(f"{what}: compiler {command[0]} not found") from None
    if proc.returncode != 0:
        raise CompileFailure(f"{what} failed:\n{proc.stderr.strip()}", proc.stderr, source)


def object_key(compiler: Sequence[str], version: str, flags: Sequence[str], source: Path, include_dir: Path) -> str:
    """The hash that names ``source``'s object (above)."""
    digest = hashlib.sha256()
    for part in (*compiler, version, "--", *flags, "--"):
        digest.update(part.encode() + b"\0")
    digest.update(source.read_bytes())
    for header in headers_for([source], include_dir.parent):
        digest.update(header.encode() + b"\0" + (include_dir / header).read_bytes())
    return digest.hexdigest()


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def _compile_into(compiler: Sequence[str], flags: Sequence[str], include_dir: Path, source: Path, target: Path,
                  what: str) -> None:
    """Compile ``source`` into ``target`` by way of a temporary file beside it."""
    fd, temporary = tempfile.mkstemp(prefix=f".{target.stem[:16]}-", suffix=".o", dir=target.parent)
    os.close(fd)
    try:
        run_compiler([*compiler, *flags, f"-I{include_dir}", "-c", str(source), "-o", temporary], what, source)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def prune(folder: Path, max_bytes: int) -> None:
    """Remove the least recently used objects until the folder holds at most max_bytes."""
    objects = []
    for path in folder.glob("*.o"):
        try:
            stat = path.stat()
        except OSError:
            continue
        objects.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in objects)
    for _, size, path in sorted(objects):
        if total <= max_bytes:
            break
        try:
            path.unlink()
        except OSError:
            continue
        total -= size


def kernel_objects(compiler: Sequence[str], version: str, flags: Sequence[str], sources: Sequence[Path],
                   include_dir: Path, scratch: Path, what: str) -> list:
    """The object of each kernel file in ``sources`` compiled with ``flags``, from the cache where
    it holds one, else compiled (and kept there). ``scratch``: a folder of the build's own, where the
    objects go when the cache cannot take them."""
    folder = cache_folder()
    cached = version != UNKNOWN_VERSION and _writable(folder)
    if not cached:
        folder = Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
    objects, missing = [], []
    for source in map(Path, sources):
        if cached:
            target = folder / f"{object_key(compiler, version, flags, source, include_dir)}.o"
        else:
            target = folder / f"{source.parent.name}-{source.stem}.o"
        objects.append(target)
        if cached and target.is_file():
            try:
                os.utime(target)
            except OSError:
                pass
        else:
            missing.append((source, target))
    if missing:
        with ThreadPoolExecutor(max_workers=min(len(missing), os.cpu_count() or 1)) as pool:
            for done in [pool.submit(_compile_into, compiler, flags, include_dir, source, target, what)
                         for source, target in missing]:
                done.result()
        if cached:
            prune(folder, MAX_CACHE_BYTES)
    return objects
