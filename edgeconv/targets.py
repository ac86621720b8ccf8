"""Board descriptions: ``targets/<name>.toml`` parsed into a typed, validated :class:`Target`.

A target says what the board is (CPU, cores, clock, ISA features, caches, memory bandwidth), how to
build for it (compiler triple, Debian cross-compiler package, zig target, flags), how to emulate it
(QEMU binary and ``-cpu``) and the peak figures behind the analytical latency model, each with its
source. The schema is documented in ``targets/SCHEMA.md``; a user's own board is a TOML file
passed by path. Every fault in a file is a :class:`~edgeconv.errors.UserError` naming the file and
the key.

The ``host`` target (the build machine) sets ``cpu.detect = true``: its cores, clock, ISA features,
model name and caches are read from ``/proc/cpuinfo`` and ``/sys`` when the file is loaded, and
the values in the file are the defaults for anything that cannot be read. The clock is the
highest one cpufreq gives; where there is none (a virtual machine), the clock a busy core was
measured at once in this boot (``host_clock``), else the ``cpu MHz`` of /proc/cpuinfo.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from .errors import UserError
from .host_clock import measured_clock_ghz
from .names import check_path_component

# Precision classes of the peak figures: what the kernels of each layer precision run at.
PEAK_PRECISIONS = ("fp32", "int8", "binary")

# x86 flags of /proc/cpuinfo that the kernels or the latency model care about.
HOST_FEATURES = (
    "sse2", "ssse3", "sse4_1", "sse4_2", "popcnt", "avx", "avx2", "fma", "avx_vnni",
    "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_vpopcntdq",
)

_PROC_CPUINFO = Path("/proc/cpuinfo")
_SYS_CPU0 = Path("/sys/devices/system/cpu/cpu0")


@dataclass(frozen=True)
class Cpu:
    model: str
    arch: str
    cores: int
    clock_ghz: float
    features: tuple
    source: str
    llvm_mca_cpu: Optional[str] = None  # the core as llvm-mca names it (-mcpu), for profile --estimate

    def has(self, feature: str) -> bool:
        return feature in self.features


@dataclass(frozen=True)
class Caches:
    """Data cache sizes, and optionally the bytes per cycle one core streams from each level: a
    level without that figure is charged at the memory bandwidth (the latency model's memory
    term, ``select.latency.memory_seconds``)."""

    l1d_kib: int
    l2_kib: int
    l3_kib: int
    source: str
    l1d_bytes_per_cycle: Optional[float] = None
    l2_bytes_per_cycle: Optional[float] = None
    l3_bytes_per_cycle: Optional[float] = None


@dataclass(frozen=True)
class Memory:
    bandwidth_gbs: float
    source: str


@dataclass(frozen=True)
class Toolchain:
    triple: str
    debian_package: Optional[str]
    zig_target: str
    cflags: tuple
    static: bool


@dataclass(frozen=True)
class Qemu:
    binary: str
    cpu: str


@dataclass(frozen=True)
class PeakFigure:
    """Peak multiply-accumulates per cycle per core at one precision class.

    ``requires`` lists the ISA features the figure needs (e.g. ``dotprod`` for SDOT); the model uses
    the largest figure whose requirements the CPU meets.
    """

    precision: str
    mac_per_cycle: float
    requires: tuple
    source: str


@dataclass(frozen=True)
class LatencyParams:
    layer_overhead_cycles: float
    parallel_efficiency: float
    source: str
    portable_cycle_scale: float = 1.0  # cycles of portable C code relative to the calibration machine
    pool_handoff_cycles: Optional[float] = None  # handing a layer to the pool; None: select.latency's default
    # the key of the NEON kernels' figures fitted on this board's core and build (e.g. "arm@cortex-a53"),
    # taken before its ARM level's where a kernel has them (kernels.arm_work.arm_figures); None: the level's
    arm_figures: Optional[str] = None


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    os_bits: int
    cpu: Cpu
    caches: Caches
    memory: Memory
    toolchain: Toolchain
    qemu: Optional[Qemu]
    peaks: tuple
    latency: LatencyParams
    path: Path
    detected: tuple = field(default=())
    threads: int = 1  # the thread count the C model runs with here, which the latency model predicts for

    def __post_init__(self) -> None:
        # The name becomes a path component (OUT/build/<name>/, the latency table's file name),
        # however the Target was made: from a board TOML or in Python.
        check_path_component(self.name, f"{self.path}: key name")

    def peak(self, precision: str, within: Optional[frozenset] = None) -> PeakFigure:
        """The best peak figure for ``precision`` (fp32/int8/binary) that this CPU can use; with
        ``within``, only figures whose features are among those (a lower x86 level's)."""
        usable = [p for p in self.peaks if p.precision == precision
                  and all(self.cpu.has(f) and (within is None or f in within) for f in p.requires)]
        if not usable:
            raise UserError(f"{self.path}: no [[peak]] entry for precision {precision!r} usable with features {list(self.cpu.features)}")
        return max(usable, key=lambda p: p.mac_per_cycle)

    def with_threads(self, threads: Optional[int]) -> "Target":
        """This board running the C model on ``threads`` threads (None: on every core)."""
        threads = self.cpu.cores if threads is None else threads
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= self.cpu.cores:
            raise UserError(f"--threads must be an integer in 1..{self.cpu.cores} (the cores of {self.name}), "
                            f"got {threads!r}")
        return replace(self, threads=threads)

    @property
    def is_host(self) -> bool:
        return self.qemu is None

    @property
    def qemu_binary(self) -> Optional[str]:
        """``qemu-aarch64`` / ``qemu-arm``, or None for the build machine."""
        return self.qemu.binary if self.qemu else None

    @property
    def qemu_cpu(self) -> Optional[str]:
        return self.qemu.cpu if self.qemu else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def targets_dir() -> Path:
    """The folder of the bundled board files (wheel or source checkout)."""
    try:
        from .resources import targets_dir as bundled_targets_dir
    except ImportError:
        return Path(__file__).resolve().parent.parent / "targets"
    return bundled_targets_dir()


def list_targets() -> list:
    """Every bundled target, sorted by name."""
    return [load_target(p) for p in sorted(targets_dir().glob("*.toml"))]


def target_names() -> list:
    return sorted(p.stem for p in targets_dir().glob("*.toml"))


def load_target(name_or_path) -> Target:
    """A bundled target by name (``rpi4``) or a board file by path (``boards/my.toml``)."""
    path = _board_file(str(name_or_path))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise UserError(f"target file {path} cannot be read ({exc.strerror})") from None
    return _parse(raw, path)


def _board_file(text: str) -> Path:
    """The TOML file a ``--target`` value names: a bundled board's, or the path as given."""
    path = Path(text)
    looks_like_path = text.endswith(".toml") or os.sep in text or path.is_file()
    if not looks_like_path and (targets_dir() / f"{text}.toml").is_file():
        return targets_dir() / f"{text}.toml"
    if path.is_dir():
        raise UserError(f"target {text} is a directory, not a board name or a board .toml file")
    if not looks_like_path:
        raise UserError(f"unknown target {text!r}; known targets: {', '.join(target_names())} (or give a path to a board .toml)")
    if not path.is_file():
        raise UserError(f"target file {path} does not exist")
    return path


# ---- parsing and validation -------------------------------------------------------------------


_REQUIRED = object()


class _Table:
    """One TOML table with typed getters that name the file and dotted key on every fault."""

    def __init__(self, data: Any, path: Path, prefix: str):
        if not isinstance(data, dict):
            raise UserError(f"{path}: {prefix or 'the file'} must be a table")
        self.data, self.path, self.prefix = data, path, prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, wanted: str) -> UserError:
        value = self.data.get(name, "<missing>")
        return UserError(f"{self.path}: key {self.key(name)} must be {wanted}, got {value!r}")

    def _get(self, name: str, default: Any):
        if name not in self.data:
            if default is _REQUIRED:
                raise UserError(f"{self.path}: missing key {self.key(name)}")
            return default
        return self.data[name]

    def text(self, name: str, default: Any = None) -> Any:
        value = self._get(name, default if default is not None else _REQUIRED)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "a non-empty string")
        return value

    def optional_text(self, name: str) -> Optional[str]:
        return self.text(name) if name in self.data else None

    def number(self, name: str, positive: bool = True, upper: Optional[float] = None) -> float:
        """A finite number (TOML's ``nan`` and ``inf`` are refused), > 0 or >= 0, at most ``upper``."""
        value = self._get(name, _REQUIRED)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, "a number")
        if not math.isfinite(value):
            raise self.fail(name, "a finite number")
        if (positive and value <= 0) or value < 0 or (upper is not None and value > upper):
            bounds = f"in (0, {upper}]" if upper is not None else ("> 0" if positive else ">= 0")
            raise self.fail(name, f"a number {bounds}")
        return float(value)

    def integer(self, name: str, allowed: Optional[tuple] = None, positive: bool = True) -> int:
        value = self._get(name, _REQUIRED)
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
            raise self.fail(name, "a positive integer" if positive else "an integer >= 0")
        if allowed is not None and value not in allowed:
            raise self.fail(name, f"one of {allowed}")
        return value

    def strings(self, name: str, required: bool = True) -> tuple:
        value = self._get(name, _REQUIRED if required else ())
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(name, "a list of strings")
        return tuple(value)

    def flag(self, name: str, default: bool) -> bool:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, "true or false")
        return value

    def table(self, name: str) -> "_Table":
        if name not in self.data:
            raise UserError(f"{self.path}: missing table [{self.key(name)}]")
        return _Table(self.data[name], self.path, self.key(name))


_CACHE_RATES = ("l1d_bytes_per_cycle", "l2_bytes_per_cycle", "l3_bytes_per_cycle")


def _parse(raw: dict, path: Path) -> Target:
    top = _Table(raw, path, "")
    cpu_t = top.table("cpu")
    cpu = Cpu(
        model=cpu_t.text("model"),
        arch=cpu_t.text("arch"),
        cores=cpu_t.integer("cores"),
        clock_ghz=cpu_t.number("clock_ghz", upper=10.0),
        features=tuple(f.lower() for f in cpu_t.strings("features")),
        source=cpu_t.text("source"),
        llvm_mca_cpu=cpu_t.optional_text("llvm_mca_cpu"),
    )
    caches_t = top.table("caches")
    caches = Caches(
        l1d_kib=caches_t.integer("l1d_kib"),
        l2_kib=caches_t.integer("l2_kib", positive=False),
        l3_kib=caches_t.integer("l3_kib", positive=False),
        source=caches_t.text("source"),
        **{key: caches_t.number(key, upper=1024.0) for key in _CACHE_RATES if key in caches_t.data},
    )
    memory_t = top.table("memory")
    memory = Memory(bandwidth_gbs=memory_t.number("bandwidth_gbs", upper=1000.0), source=memory_t.text("source"))
    tool_t = top.table("toolchain")
    toolchain = Toolchain(
        triple=tool_t.text("triple"),
        debian_package=tool_t.optional_text("debian_package"),
        zig_target=tool_t.text("zig_target"),
        cflags=tool_t.strings("cflags"),
        static=tool_t.flag("static", True),
    )
    qemu = None
    if "qemu" in raw:
        qemu_t = top.table("qemu")
        qemu = Qemu(binary=qemu_t.text("binary"), cpu=qemu_t.text("cpu"))
    latency_t = top.table("latency")
    latency = LatencyParams(
        layer_overhead_cycles=latency_t.number("layer_overhead_cycles", positive=False),
        parallel_efficiency=latency_t.number("parallel_efficiency", upper=1.0),
        source=latency_t.text("source"),
        portable_cycle_scale=latency_t.number("portable_cycle_scale", upper=100.0) if "portable_cycle_scale" in latency_t.data else 1.0,
        **({"pool_handoff_cycles": latency_t.number("pool_handoff_cycles", positive=False)}
           if "pool_handoff_cycles" in latency_t.data else {}),
        arm_figures=latency_t.optional_text("arm_figures"),
    )
    target = Target(
        name=top.text("name"),
        description=top.text("description"),
        os_bits=top.integer("os_bits", allowed=(32, 64)),
        cpu=cpu,
        caches=caches,
        memory=memory,
        toolchain=toolchain,
        qemu=qemu,
        peaks=_parse_peaks(raw, path),
        latency=latency,
        path=path,
    )
    if cpu_t.flag("detect", False):
        target = _detect_host(target)
    return target


def _parse_peaks(raw: dict, path: Path) -> tuple:
    entries = raw.get("peak")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{path}: missing [[peak]] entries (one per precision: {', '.join(PEAK_PRECISIONS)})")
    peaks = []
    for i, entry in enumerate(entries):
        t = _Table(entry, path, f"peak[{i}]")
        precision = t.text("precision")
        if precision not in PEAK_PRECISIONS:
            raise t.fail("precision", f"one of {PEAK_PRECISIONS}")
        peaks.append(PeakFigure(
            precision=precision,
            mac_per_cycle=t.number("mac_per_cycle", upper=4096.0),
            requires=tuple(f.lower() for f in t.strings("requires", required=False)),
            source=t.text("source"),
        ))
    for precision in PEAK_PRECISIONS:
        if not any(p.precision == precision and not p.requires for p in peaks):
            raise UserError(f"{path}: [[peak]] needs an entry for precision {precision!r} without 'requires' (the baseline figure)")
    return tuple(peaks)


# ---- host detection ---------------------------------------------------------------------------


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _cpuinfo_fields(text: str) -> dict:
    """The first value of each ``key : value`` line of /proc/cpuinfo, and the largest ``cpu MHz``."""
    fields: dict = {}
    mhz = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "cpu MHz":
            try:
                mhz.append(float(value))
            except ValueError:
                pass
        fields.setdefault(key, value)
    if mhz:
        fields["cpu MHz"] = max(mhz)
    return fields


def _cache_kib(level: int) -> Optional[int]:
    """Size of the level-``level`` data (or unified) cache of cpu0 from sysfs, in KiB."""
    for index in sorted(_SYS_CPU0.glob("cache/index*")):
        if (_read(index / "level") or "").strip() != str(level):
            continue
        if (_read(index / "type") or "").strip() not in ("Data", "Unified"):
            continue
        size = (_read(index / "size") or "").strip().upper()
        scale = {"K": 1, "M": 1024}.get(size[-1:], None)
        if scale and size[:-1].isdigit():
            return int(size[:-1]) * scale
    return None


def _detect_host(target: Target) -> Target:
    """Replace the defaults of a ``detect = true`` target by what this machine reports."""
    detected = []
    cpu, caches = target.cpu, target.caches
    info = _cpuinfo_fields(_read(_PROC_CPUINFO) or "")
    if info.get("model name"):
        cpu = replace(cpu, model=str(info["model name"]))
        detected.append("cpu.model")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cores:
        cpu = replace(cpu, cores=int(cores))
        detected.append("cpu.cores")
    max_khz = (_read(_SYS_CPU0 / "cpufreq" / "cpuinfo_max_freq") or "").strip()
    if max_khz.isdigit():
        cpu = replace(cpu, clock_ghz=int(max_khz) / 1e6)
        detected.append("cpu.clock_ghz")
    elif (measured_ghz := measured_clock_ghz(cpu.model)) is not None:
        cpu = replace(cpu, clock_ghz=measured_ghz)
        detected.append("cpu.clock_ghz")
    elif isinstance(info.get("cpu MHz"), float):
        cpu = replace(cpu, clock_ghz=info["cpu MHz"] / 1000.0)
        detected.append("cpu.clock_ghz")
    if info.get("flags"):
        flags = set(str(info["flags"]).split())
        cpu = replace(cpu, features=tuple(f for f in HOST_FEATURES if f in flags))
        detected.append("cpu.features")
    sizes = {level: _cache_kib(level) for level in (1, 2, 3)}
    if all(sizes.values()):
        caches = replace(caches, l1d_kib=sizes[1], l2_kib=sizes[2], l3_kib=sizes[3])
        detected.append("caches")
    return replace(target, cpu=cpu, caches=caches, detected=tuple(detected))
