"""Which kernel set a target builds: ``portable`` (C99, always there), ``x86`` or ``arm``, the
x86 level it is compiled for and the compiler flags that level needs. One rule, read by the build,
the C lowering, the latency model, the kernel tests and ``bench/``.

**x86-64 levels**, from the CPU's flags (``/proc/cpuinfo`` names), each needing those of the
levels before it:

============  ==========================  =======  ===================================================
level         CPU flags                   kernels  what runs
============  ==========================  =======  ===================================================
portable      (x86-64 baseline, SSE2)     portable the C99 kernels, compiled for SSE2
sse4.1        sse4_1, popcnt              portable the C99 kernels, which the compiler may vectorise
                                                   with SSE4.1; no hand-written SSE4.1 kernels
avx2          avx2, fma                   x86      every ``kernels_c/x86`` kernel on 256-bit AVX2:
                                                   GEMM (1x1, im2col, fully connected) on VPMADDWD,
                                                   depthwise, add/mul, pools, quantize, lookup tables,
                                                   binary popcounts by nibble lookup
avx512        avx512f, avx512bw, avx512vl x86      the AVX2 GEMM and add/lookup kernels, with the
                                                   512-bit requantization, depthwise, quantize and
                                                   binary popcount paths (Skylake-SP class)
avx512-vnni   avx512_vnni                 x86      the VPDPBUSD GEMM and depthwise as well; plus
                                                   VBMI byte permutes (add, lookup tables) and
                                                   VPOPCNTQ (binary) where the CPU has them
avx512-amx    amx_tile, amx_int8          x86      the int8 1x1 and im2col GEMM of layers wide
                                                   enough on AMX tiles (TDPBSSD, ec_x86_amx.h;
                                                   Sapphire Rapids class), the rest as avx512-vnni
============  ==========================  =======  ===================================================

The x86 kernels choose their paths at compile time from the compiler's target macros, so a level
is its compiler flags: those that switch its instructions on and ``-mno-...`` for the next
level's, so that a ``-march=native`` among the board's own flags cannot raise it.

- ARM (32- and 64-bit): the ``arm`` (NEON) kernels; a 32-bit board whose compiler cannot build them
  falls back to ``portable`` at build time (``backends/c/runner_build.py``). A 64-bit board whose
  TOML lists ``dotprod`` (rpi5's Cortex-A76, Jetson Orin's A78AE) is compiled with
  ``-march=armv8.2-a+dotprod`` (level ``arm-dotprod``): the GEMM kernels then test
  ``__ARM_FEATURE_DOTPROD`` and use SDOT (``kernels_c/include/ec_arm_gemm.h``); the others, and
  the 32-bit rpi3, keep plain NEON (level ``arm``);
- anything else: ``portable``.

The ``host`` target reads this machine's CPU flags (``/proc/cpuinfo``, on first use only); a board
TOML's ``[cpu] features`` decide for a board. **Forcing a lower level** on the host (to measure it,
or to build for an older x86 machine): the environment variable ``EDGECONV_X86_LEVEL`` (one of
the levels above) applies to every command that builds or predicts for ``host``; a level the CPU
lacks, or an unknown one, is refused (exit 2).
"""

from __future__ import annotations

import functools
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import UserError

ISAS = ("portable", "x86", "arm")
LEVEL_ENV = "EDGECONV_X86_LEVEL"

X86_AVX2_FLAGS = ("-mavx2", "-mfma", "-mpopcnt")
X86_AVX512_FLAGS = ("-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni")
# AVX-512 extensions that some x86 kernels use when the compiler targets them (they test the
# compiler's macros, __AVX512VBMI__ and __AVX512VPOPCNTDQ__): byte permutes for the add and lookup
# tables, a vector popcount for the binary kernels. CPU flag -> compiler flag; added at the VNNI
# levels only where the CPU has them (Cascade Lake, for one, has VNNI without either).
X86_AVX512_EXTENSIONS = {"avx512vbmi": "-mavx512vbmi", "avx512_vpopcntdq": "-mavx512vpopcntdq"}
X86_AMX_FLAGS = ("-mamx-tile", "-mamx-int8")


@dataclass(frozen=True)
class X86Level:
    """One row of the module's table: the CPU flags it adds to the previous level's, the kernels
    folder, the compiler flags that switch it on, and those that keep the next level off."""

    name: str
    adds: frozenset
    isa: str
    enable: tuple
    disable: tuple


X86_LEVELS = (
    X86Level("portable", frozenset(), "portable", (), ("-mno-sse4.1", "-mno-popcnt")),
    X86Level("sse4.1", frozenset({"sse4_1", "popcnt"}), "portable", ("-msse4.1", "-mpopcnt"), ("-mno-avx2",)),
    X86Level("avx2", frozenset({"avx2", "fma"}), "x86", X86_AVX2_FLAGS, ("-mno-avx512f",)),
    X86Level("avx512", frozenset({"avx512f", "avx512bw", "avx512vl"}), "x86",
             X86_AVX2_FLAGS + X86_AVX512_FLAGS[:3],
             ("-mno-avx512vnni", *(f"-mno-{flag[2:]}" for flag in X86_AVX512_EXTENSIONS.values()))),
    X86Level("avx512-vnni", frozenset({"avx512_vnni"}), "x86", X86_AVX2_FLAGS + X86_AVX512_FLAGS,
             tuple(f"-mno-{flag[2:]}" for flag in X86_AMX_FLAGS)),
    X86Level("avx512-amx", frozenset({"amx_tile", "amx_int8"}), "x86", X86_AVX2_FLAGS + X86_AVX512_FLAGS + X86_AMX_FLAGS,
             ()),
)
X86_LEVEL_NAMES = tuple(level.name for level in X86_LEVELS)


@dataclass(frozen=True)
class KernelSet:
    """The kernels_c folder a build compiles (``isa``), the compiler flags it needs, and the level:
    an x86 level name, else the folder's name. ``features``: the CPU flags the level may use (the
    latency model's peak figures are chosen among them); None where the target's own all apply."""

    isa: str
    flags: tuple = ()
    level: str = ""
    features: Optional[frozenset] = None

    def __post_init__(self):
        if not self.level:
            object.__setattr__(self, "level", self.isa)


PORTABLE = KernelSet("portable")


def _is_x86(triple: str) -> bool:
    return triple.startswith(("x86_64", "i686", "amd64"))


def _x86_rank(cpu_features) -> int:
    """The index in ``X86_LEVELS`` of the highest level whose flags (and all before) the CPU has."""
    features = frozenset(cpu_features)
    rank, needed = 0, frozenset()
    for index, level in enumerate(X86_LEVELS):
        needed |= level.adds
        if not needed <= features:
            break
        rank = index
    return rank


def x86_level(cpu_features) -> str:
    """The highest x86 level of a CPU with feature flags ``cpu_features``."""
    return X86_LEVELS[_x86_rank(cpu_features)].name


def x86_kernel_set(level: str, cpu_features=()) -> KernelSet:
    """The kernel set of x86 level ``level`` (its extensions from ``cpu_features``)."""
    index = X86_LEVEL_NAMES.index(level)
    row = X86_LEVELS[index]
    features = frozenset().union(*(r.adds for r in X86_LEVELS[: index + 1])) | {"sse2"}
    flags = row.enable + row.disable
    if level in ("avx512-vnni", "avx512-amx"):
        present = [f for f in X86_AVX512_EXTENSIONS if f in frozenset(cpu_features)]
        flags += tuple(X86_AVX512_EXTENSIONS[f] for f in present)
        features |= frozenset(present)
    return KernelSet(row.isa, flags, level, frozenset(features))


def kernel_set(triple: str, cpu_features, level: Optional[str] = None) -> KernelSet:
    """The kernel set for a CPU of compiler triple ``triple`` with feature flags ``cpu_features``;
    on x86, ``level`` (default: the CPU's highest) must be one the CPU has."""
    if _is_x86(triple):
        best = _x86_rank(cpu_features)
        if level is not None:
            if level not in X86_LEVEL_NAMES:
                raise UserError(f"unknown x86 level {level!r}; known: {', '.join(X86_LEVEL_NAMES)}")
            if X86_LEVEL_NAMES.index(level) > best:
                raise UserError(f"x86 level {level} needs CPU flags this CPU lacks (its highest level is "
                                f"{X86_LEVEL_NAMES[best]})")
        return x86_kernel_set(level or X86_LEVEL_NAMES[best], cpu_features)
    if level is not None:
        raise UserError(f"x86 level {level} asked for a {triple} CPU, which is not x86-64")
    if triple.startswith(("aarch64", "arm")):
        return arm_kernel_set(triple, cpu_features)
    return PORTABLE


ARM_DOTPROD_FLAGS = ("-march=armv8.2-a+dotprod",)


def arm_kernel_set(triple: str, cpu_features) -> KernelSet:
    """The NEON kernel set: with the dot product on 64-bit ARM CPUs that list ``dotprod``."""
    if triple.startswith("aarch64") and "dotprod" in frozenset(cpu_features):
        return KernelSet("arm", ARM_DOTPROD_FLAGS, "arm-dotprod")
    return KernelSet("arm")


@functools.lru_cache(maxsize=None)
def host_cpu_flags() -> frozenset:
    """The feature flags of this CPU (``/proc/cpuinfo``), empty where they cannot be read."""
    try:
        return frozenset(re.findall(r"\b(\w+)\b", Path("/proc/cpuinfo").read_text()))
    except OSError:
        return frozenset()


def host_triple() -> str:
    """The architecture part of this machine's compiler triple."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def forced_level() -> Optional[str]:
    """The x86 level ``EDGECONV_X86_LEVEL`` asks for, or None when it is unset or empty."""
    value = os.environ.get(LEVEL_ENV, "").strip()
    if not value:
        return None
    if value not in X86_LEVEL_NAMES:
        raise UserError(f"{LEVEL_ENV}={value!r} is not an x86 level; known: {', '.join(X86_LEVEL_NAMES)}")
    return value


def host_kernel_set() -> KernelSet:
    """The kernel set of this machine, at the level ``EDGECONV_X86_LEVEL`` forces if it is set."""
    level = forced_level()
    try:
        return kernel_set(host_triple(), host_cpu_flags(), level)
    except UserError as exc:
        raise UserError(f"{LEVEL_ENV}={level}: {exc}") from None


def host_isa() -> str:
    """The kernels_c folder of this machine's kernel set."""
    return host_kernel_set().isa


def host_x86_levels() -> tuple:
    """The x86 levels this machine runs, lowest first (none off x86)."""
    if not _is_x86(host_triple()):
        return ()
    return X86_LEVEL_NAMES[: _x86_rank(host_cpu_flags()) + 1]


def host_has_avx512_vnni() -> bool:
    """Whether this machine's CPU runs the AVX-512 VNNI kernels (AVX512F, BW, VL and VNNI)."""
    return "avx512-vnni" in host_x86_levels()


def target_kernel_set(target) -> KernelSet:
    """The kernel set of a :class:`~edgeconv.targets.Target`: this machine's for the host, else
    the one its compiler triple and ISA features give."""
    if target.is_host:
        return host_kernel_set()
    return kernel_set(target.toolchain.triple, target.cpu.features)
