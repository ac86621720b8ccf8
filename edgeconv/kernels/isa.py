"""Which kernel set a target builds: ``portable`` (C99, always there), ``x86`` or ``arm``, and the
compiler flags the x86 set needs. One rule, read by the build, the C lowering and the latency model.

- x86-64: the ``x86`` kernels when the CPU has AVX2, FMA and POPCNT, compiled for AVX2; for
  AVX-512 VNNI as well when it has AVX512F, BW, VL and VNNI, plus the AVX-512 extensions of
  ``X86_AVX512_EXTENSIONS`` it has (the kernels choose at compile time from the compiler's target
  macros); else ``portable``;
- ARM (32- and 64-bit): the ``arm`` (NEON) kernels; a 32-bit board whose compiler cannot build them
  falls back to ``portable`` at build time (``backends/c/runner_build.py``);
- anything else: ``portable``.

The ``host`` target reads this machine's CPU flags (``/proc/cpuinfo``), on first use only.
"""

from __future__ import annotations

import functools
import platform
import re
from dataclasses import dataclass
from pathlib import Path

ISAS = ("portable", "x86", "arm")

X86_AVX2_FLAGS = ("-mavx2", "-mfma", "-mpopcnt")
X86_AVX512_FLAGS = ("-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni")
# AVX-512 extensions that some x86 kernels use when the compiler targets them (they test the
# compiler's macros, __AVX512VBMI__ and __AVX512VPOPCNTDQ__): byte permutes for the add and lookup
# tables, a vector popcount for the binary kernels. CPU flag -> compiler flag; added only where the
# CPU has them (Cascade Lake, for one, has VNNI without either).
X86_AVX512_EXTENSIONS = {"avx512vbmi": "-mavx512vbmi", "avx512_vpopcntdq": "-mavx512vpopcntdq"}
X86_REQUIRED = frozenset({"avx2", "fma", "popcnt"})
X86_AVX512_REQUIRED = frozenset({"avx512f", "avx512bw", "avx512vl", "avx512_vnni"})


@dataclass(frozen=True)
class KernelSet:
    """The kernels_c folder a build compiles (``isa``) and the compiler flags it needs."""

    isa: str
    flags: tuple = ()


PORTABLE = KernelSet("portable")


def _is_x86(triple: str) -> bool:
    return triple.startswith(("x86_64", "i686", "amd64"))


def kernel_set(triple: str, cpu_features) -> KernelSet:
    """The kernel set for a CPU of compiler triple ``triple`` with feature flags ``cpu_features``."""
    features = frozenset(cpu_features)
    if _is_x86(triple):
        if not X86_REQUIRED <= features:
            return PORTABLE
        if not X86_AVX512_REQUIRED <= features:
            return KernelSet("x86", X86_AVX2_FLAGS)
        extensions = tuple(flag for feature, flag in X86_AVX512_EXTENSIONS.items() if feature in features)
        return KernelSet("x86", X86_AVX2_FLAGS + X86_AVX512_FLAGS + extensions)
    if triple.startswith(("aarch64", "arm")):
        return KernelSet("arm")
    return PORTABLE


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


def host_kernel_set() -> KernelSet:
    """The kernel set of this machine."""
    return kernel_set(host_triple(), host_cpu_flags())


def host_isa() -> str:
    """The kernels_c folder of this machine's kernel set."""
    return host_kernel_set().isa


def host_has_avx512_vnni() -> bool:
    """Whether this machine runs the AVX-512 VNNI kernels (AVX512F, BW, VL and VNNI)."""
    return _is_x86(host_triple()) and X86_AVX512_REQUIRED <= host_cpu_flags()


def target_kernel_set(target) -> KernelSet:
    """The kernel set of a :class:`~edgeconv.targets.Target`: this machine's for the host, else
    the one its compiler triple and ISA features give."""
    if target.is_host:
        return host_kernel_set()
    return kernel_set(target.toolchain.triple, target.cpu.features)
