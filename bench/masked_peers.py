"""LiteRT at a lower x86 level than this CPU's: the peers our kernels are set against at that level.

XNNPACK and ruy (LiteRT's builtin kernels) pick their kernels at run time from CPUID, so forcing
our C down to ``avx2`` on an AVX-512 VNNI machine (``EDGECONV_X86_LEVEL``) used to set it against
XNNPACK's VNNI kernels. Here each peer at a lower level runs in a child process whose CPUID says
that level: ``cpuid_level.c``, preloaded (``LD_PRELOAD``), makes CPUID fault and answers it with the
feature bits above the level cleared (the file says which and how). The child reports the CPUID view
it got before it times anything; where the CPU cannot make CPUID fault (no ``cpuid_fault`` flag in
``/proc/cpuinfo``) or the view is not the level's, the peer is refused with the reason, never
timed at the CPU's own level under the lower level's name.

A ``MaskedTimer`` has the ``round()`` of ``common.py``'s timers: the parent asks, the child times
one round of ``invoke()`` and answers ``[median ms, min ms, calls]``, so masked and unmasked runtimes
interleave in one ``measure()`` as before.

    python bench/masked_peers.py --level avx2 --runtime litert-xnnpack MODEL.tflite   # one figure
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import litert_timer

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "cpuid_level.c"
MASKABLE_LEVELS = ("sse4.1", "avx2", "avx512", "avx512-vnni")
LEVEL_ENV = "EDGECONV_CPUID_LEVEL"
RESOLVERS = {"litert-xnnpack": "xnnpack", "litert-builtin": "builtin"}
# (leaf, subleaf, register index EAX..EDX, bit) of the features a level has (1) or lacks (0)
VIEW_BITS = {"avx2": (7, 0, 1, 5), "avx512f": (7, 0, 1, 16), "avx512_vnni": (7, 0, 2, 11), "amx_int8": (7, 0, 3, 25)}
EXPECTED_VIEW = {
    "sse4.1": {"avx2": 0, "avx512f": 0, "avx512_vnni": 0, "amx_int8": 0},
    "avx2": {"avx2": 1, "avx512f": 0, "avx512_vnni": 0, "amx_int8": 0},
    "avx512": {"avx2": 1, "avx512f": 1, "avx512_vnni": 0, "amx_int8": 0},
    "avx512-vnni": {"avx2": 1, "avx512f": 1, "avx512_vnni": 1, "amx_int8": 0},
}


class MaskUnavailable(RuntimeError):
    """The CPUID view of a level cannot be given here (the message says why)."""


def cpu_can_fault_cpuid() -> bool:
    try:
        return "cpuid_fault" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


@functools.lru_cache(maxsize=None)
def shim_library() -> Path:
    """``cpuid_level.c`` compiled by the host's C compiler into a temporary folder (once a process, removed at its exit)."""
    if not cpu_can_fault_cpuid():
        raise MaskUnavailable("this CPU cannot make CPUID fault (no cpuid_fault flag), so LiteRT runs at its own level")
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise MaskUnavailable("no C compiler (cc or gcc) to build cpuid_level.c")
    folder = tempfile.TemporaryDirectory(prefix="edgeconv-cpuid-")
    atexit.register(folder.cleanup)
    out = Path(folder.name) / "cpuid_level.so"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-o", str(out), str(SOURCE)], check=True)
    return out


class MaskedTimer:
    """One LiteRT interpreter (``runtime``: litert-xnnpack or litert-builtin) on ``model`` in a
    child process that sees CPUID at ``level``."""

    def __init__(self, model: Path, runtime: str, level: str):
        if level not in MASKABLE_LEVELS:
            raise MaskUnavailable(f"no CPUID mask for level {level!r}; masks: {', '.join(MASKABLE_LEVELS)}")
        env = {**os.environ, "LD_PRELOAD": str(shim_library()), LEVEL_ENV: level,
               "PYTHONPATH": os.pathsep.join(filter(None, (str(HERE), os.environ.get("PYTHONPATH"))))}
        self.child = subprocess.Popen([sys.executable, str(Path(__file__)), "--serve", "--level", level,
                                       "--runtime", runtime, str(model)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        ready = self._answer()
        if "error" in ready:
            self.close()
            raise MaskUnavailable(ready["error"])
        self.view = ready["view"]

    def _answer(self) -> dict:
        line = self.child.stdout.readline()
        if not line:
            raise MaskUnavailable(f"the child timing at a masked level exited with {self.child.wait()}")
        return json.loads(line)

    def round(self) -> tuple:
        self.child.stdin.write("round\n")
        self.child.stdin.flush()
        median, minimum, calls = self._answer()["round"]
        return median, minimum, calls

    def close(self) -> None:
        if self.child.poll() is None:
            self.child.stdin.close()
            self.child.wait()


def cpuid_view() -> dict:
    """The feature bits this process's CPUID reports, read through the preloaded library."""
    import ctypes

    library = ctypes.CDLL(None)
    if not hasattr(library, "cpuid_level_has"):
        raise MaskUnavailable("cpuid_level.so was not preloaded")
    return {name: library.cpuid_level_has(*bits) for name, bits in VIEW_BITS.items()}


def serve(model: Path, runtime: str, level: str) -> None:
    """The child: check the CPUID view, then time one round per ``round`` line on stdin."""
    def say(message: dict) -> None:
        print(json.dumps(message), flush=True)

    try:
        view = cpuid_view()
    except MaskUnavailable as exc:
        say({"error": str(exc)})
        return
    if view != EXPECTED_VIEW[level]:
        say({"error": f"CPUID reports {view} under the {level} mask"})
        return
    timer = litert_timer(model, RESOLVERS[runtime])
    say({"view": view})
    for _ in sys.stdin:
        say({"round": list(timer.round())})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--level", required=True, choices=MASKABLE_LEVELS)
    parser.add_argument("--runtime", default="litert-xnnpack", choices=tuple(RESOLVERS))
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.model, args.runtime, args.level)
        return 0
    timer = MaskedTimer(args.model, args.runtime, args.level)
    try:
        rounds = [timer.round() for _ in range(3)]
    finally:
        timer.close()
    print(f"{args.runtime} at {args.level} (CPUID view {timer.view}): median of round medians "
          f"{sorted(r[0] for r in rounds)[1]:.4f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
