"""Compile a generated C project and its runner into ``edgeconv_run`` for a target.

The compiler is a :class:`edgeconv.toolchain.Compiler` found for the target. Which kernel files are
compiled (the instruction set, "ISA"):

- the host: ``x86`` at this CPU's x86 level (AVX2 and above; ``EDGECONV_X86_LEVEL`` forces a
  lower one), else ``portable`` (``kernels.isa`` has the table);
- 64-bit ARM boards: ``arm`` (NEON, part of every AArch64 core);
- 32-bit ARM boards (armv7 hard-float, e.g. ``rpi3``): ``arm`` only when every NEON kernel the
  project carries compiles for the target with its flags (AArch64-only intrinsics such as
  ``vaddvq_s32`` do not exist in AArch32); otherwise ``portable``, and the reason is recorded
  in ``build.json`` (``isa_note``).

A release build by default: ``edgeconv_run --timing`` reports whole-run medians only. A profiling
build (``profile=True``: ``edgeconv build --profile``, and what ``edgeconv profile`` builds)
compiles the per-layer timing hooks in (``-DEC_PROFILE``), and ``--timing`` then reports per-layer
medians too, which ``edgeconv profile`` reads. ARM runners are linked statically when the
target says so (``[toolchain] static``), so they run on any board's libc. The kernel files'
objects come from the object cache where it holds them (``object_cache``).

The result is ``<dest>/edgeconv_run`` and ``<dest>/build.json`` (compiler command, kind and
version, flags, ISA, sources, target).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from ...errors import UserError
from ...kernels.isa import PORTABLE, KernelSet, target_kernel_set
from ...targets import Target
from ...toolchain import Compiler
from .build import THREAD_FLAG, PROFILE_FLAG, base_flags, compile_runner, prefix_of, runner_sources
from .object_cache import CompileFailure, kernel_objects

RUNNER_BINARY = "edgeconv_run"
BUILD_RECORD = "build.json"


@dataclass(frozen=True)
class BuildRecord:
    """What ``build.json`` holds: enough to rebuild the same binary by hand."""

    target: str
    triple: str
    compiler: list
    kind: str
    version: str
    cflags: list
    ldflags: list
    isa: str
    level: str             # the kernel set's level: an x86 level (kernels.isa), else the isa
    isa_note: Optional[str]
    profile: bool          # per-layer timing hooks compiled in
    static: bool
    sources: list
    binary: str

    def to_dict(self) -> dict:
        return asdict(self)


def _is_aarch64(target: Target) -> bool:
    return target.toolchain.triple.startswith("aarch64")


def _neon_failure(c_dir: Path, compiler: Compiler, flags: list) -> Optional[str]:
    """None when every NEON kernel of the project compiles for the target with ``flags``, else the
    file that does not and its first error. The kernels are compiled as the build compiles them,
    into the object cache (``object_cache``), so a build that goes on to use them links these
    objects."""
    neon = sorted((c_dir / "kernels" / "arm").glob("*.c"))
    with tempfile.TemporaryDirectory(prefix="edgeconv-neon-probe-") as scratch:
        try:
            kernel_objects(compiler.command, compiler.version, flags, neon, c_dir / "include", Path(scratch),
                           f"compiling the NEON kernels of {c_dir}")
        except CompileFailure as failure:
            errors = [line for line in failure.stderr.splitlines() if "error" in line]
            return f"{failure.source.name}: {(errors or failure.stderr.splitlines() or ['does not compile'])[0].strip()}"
    return None


def choose_isa(target: Target, c_dir: Path, compiler: Compiler, extra_flags: list) -> tuple:
    """``(KernelSet, note)``: the kernel set to compile for ``target`` (``kernels.isa``) and why a
    fallback was taken. ``extra_flags``: the build's flags after the kernel set's (profiling, threads)."""
    kernels = target_kernel_set(target)
    if kernels.isa != "arm" or _is_aarch64(target):
        return kernels, None
    failure = _neon_failure(c_dir, compiler, compile_flags(compiler, kernels, extra_flags))
    if failure is None:
        return kernels, None
    return PORTABLE, f"NEON kernels do not build for {target.toolchain.triple} ({failure}); portable kernels used"


def compile_flags(compiler: Compiler, kernels: KernelSet, extra_flags: list) -> list:
    """The flags the build compiles every source with (the model's prefix aside)."""
    return [*base_flags(compiler.cflags), *compiler.cflags, *kernels.flags, *extra_flags]


def threads_flags(threads: Optional[int]) -> list:
    """The runner's default thread count (``EC_RUN_THREADS``, model.h); one thread builds the pool as
    a plain loop without pthreads (``EC_THREADS=1``). None: the count the model was generated for."""
    if threads is None:
        return []
    return [f"-DEC_RUN_THREADS={threads}"] + (["-DEC_THREADS=1"] if threads == 1 else [])


def build_runner(c_dir: Path, target: Target, compiler: Compiler, dest: Path, profile: bool = False,
                 threads: Optional[int] = None) -> BuildRecord:
    """Compile ``c_dir`` with its runner into ``dest/edgeconv_run`` (with the per-layer timing hooks
    when ``profile``; ``threads``: see :func:`threads_flags`); write ``dest/build.json``."""
    c_dir, dest = Path(c_dir), Path(dest)
    if not (c_dir / "model.c").is_file():
        raise UserError(f"{c_dir} has no model.c: run edgeconv compress with --emit c first")
    extra_flags = [*([PROFILE_FLAG] if profile else []), *threads_flags(threads)]
    kernels, note = choose_isa(target, c_dir, compiler, extra_flags)
    isa = kernels.isa
    sources = runner_sources(c_dir, isa)
    flags = compile_flags(compiler, kernels, extra_flags)
    cflags = [*flags, f"-DEC_MODEL_PREFIX={prefix_of(c_dir)}"]
    ldflags = [*compiler.ldflags, "-lm", *([] if threads == 1 else [THREAD_FLAG])]
    dest.mkdir(parents=True, exist_ok=True)
    compile_runner(compiler.command, compiler.version, flags, c_dir, isa, ldflags, dest / RUNNER_BINARY,
                   f"compiling {c_dir} for {target.name} with {' '.join(compiler.command)}")
    record = BuildRecord(
        target=target.name, triple=target.toolchain.triple, compiler=list(compiler.command), kind=compiler.kind,
        version=compiler.version, cflags=cflags, ldflags=ldflags, isa=isa, level=kernels.level, isa_note=note,
        profile=profile,
        static="-static" in compiler.ldflags, sources=[str(s.relative_to(c_dir)) for s in sources],
        binary=RUNNER_BINARY,
    )
    (dest / BUILD_RECORD).write_text(json.dumps(record.to_dict(), indent=2) + "\n")
    return record
