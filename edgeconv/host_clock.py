"""The clock a busy core of the build machine runs at, for the ``host`` target's latency model.

The model counts cycles and divides by the target's clock. Linux gives a core's highest clock in
``/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq``; a virtual machine usually has no
``cpufreq`` folder, and the ``cpu MHz`` of its ``/proc/cpuinfo`` is the processor's nominal clock,
not the turbo clock its cores run at (a Xeon VM that says 2.1 GHz runs a busy core at 2.8-3.5 GHz),
so every predicted time came out 1.3-1.7x too long. There the clock is measured:
``runtimes/clock_probe/ec_clock_probe.c`` (a chain of dependent additions, one cycle each), built
with the host C compiler and run once per boot of the machine. The result is kept in the user's
cache (``host-clock-<boot id>.json``: the CPU's model name and the GHz); the first process to
store it wins, so that every later command (and every process running beside it) predicts with
the same clock and gives the same artifacts until the machine restarts. ``refresh=True``
measures again and replaces it (the host benchmarks do, at their start).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

from .host_tools import cache_root, host_compiler
from .resources import runtimes_c_dir

CLOCK_PREFIX = "host-clock-"
PROBE_TIMEOUT_S = 60
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
PLAUSIBLE_GHZ = (0.2, 10.0)

# (boot id, CPU model) -> GHz: what this process read or measured, so that it reads the file once
# and every target it loads has the same clock even where the cache folder changes under it.
_KNOWN: dict = {}


def probe_source() -> Path:
    return Path(runtimes_c_dir()).parent / "clock_probe" / "ec_clock_probe.c"


def run_probe() -> Optional[float]:
    """Builds and runs the probe; its GHz, or None where it cannot be built or run here."""
    cc = host_compiler()
    if cc is None or platform.machine() not in ("x86_64", "AMD64"):
        return None
    with tempfile.TemporaryDirectory(prefix="edgeconv-clock-") as work:
        program = Path(work) / "ec_clock_probe"
        try:
            built = subprocess.run([cc, "-O2", str(probe_source()), "-o", str(program)], capture_output=True,
                                   timeout=PROBE_TIMEOUT_S)
            if built.returncode != 0:
                return None
            ran = subprocess.run([str(program)], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            return None
    try:
        ghz = float(ran.stdout.strip())
    except ValueError:
        return None
    return ghz if ran.returncode == 0 and PLAUSIBLE_GHZ[0] <= ghz <= PLAUSIBLE_GHZ[1] else None


def _stored(path: Path, cpu_model: str) -> Optional[float]:
    """The clock stored at ``path`` for this CPU, or None (absent, another CPU, unreadable)."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        ghz = float(saved["clock_ghz"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if saved.get("cpu_model") != cpu_model:
        return None
    return ghz if PLAUSIBLE_GHZ[0] <= ghz <= PLAUSIBLE_GHZ[1] else None


def _store(path: Path, record: dict, replace_stored: bool) -> None:
    """Writes ``record`` to ``path`` whole (a reader never sees half a file). Without
    ``replace_stored`` a readable record another process stored first stays (the link fails).
    The files of earlier boots are removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(record), encoding="utf-8")
    try:
        if replace_stored:
            partial.replace(path)
        else:
            os.link(partial, path)
    except FileExistsError:
        if _stored(path, record["cpu_model"]) is None:
            partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    for other in path.parent.glob(f"{CLOCK_PREFIX}*.json"):
        if other != path:
            other.unlink(missing_ok=True)


def measured_clock_ghz(cpu_model: str, refresh: bool = False) -> Optional[float]:
    """The clock of a busy core in GHz: the one stored for this boot, else measured now and stored;
    None where it cannot be measured (no compiler, not x86-64, no boot id, the cache not writable).
    A process measures or reads it once and keeps it (``refresh`` measures again)."""
    try:
        boot_id = BOOT_ID.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    key = (boot_id, cpu_model)
    if key in _KNOWN and not refresh:
        return _KNOWN[key]
    path = cache_root() / f"{CLOCK_PREFIX}{boot_id}.json"
    stored = None if refresh else _stored(path, cpu_model)
    if stored is None:
        ghz = run_probe()
        if ghz is None:
            return None
        try:
            _store(path, {"cpu_model": cpu_model, "clock_ghz": ghz}, replace_stored=refresh)
        except OSError:
            return None
        stored = _stored(path, cpu_model)
    _KNOWN[key] = stored
    return stored
