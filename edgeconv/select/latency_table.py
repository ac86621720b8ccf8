"""Measured latency tables (LUTs): what ``edgeconv profile`` measured on a board, as JSON.

Format (``version`` 1)::

    {
      "format": "edgeconv-latency-table",
      "version": 1,
      "target": "rpi4",                       # target name the table belongs to
      "board": "Raspberry Pi 4 Model B Rev 1.4",
      "date": "2026-11-21T21:00:00Z",          # ISO 8601, UTC
      "compiler": "aarch64-linux-gnu-gcc 12.2.0",
      "cflags": ["-O2", "-mcpu=cortex-a72"],
      "method": "measured",                    # or "estimated (qemu+llvm-mca)"; optional, default measured
      "entries": [
        {"op": "Conv", "shape": "x=1x16x32x32;w=32x16x3x3;dilation=1,1;groups=1;pads=1,1,1,1;stride=1,1",
         "precision": "int8", "algorithm": "ec_s8_conv2d_slidingwin", "threads": 1, "ms": 0.412}
      ]
    }

An entry's key is ``(op, shape signature, precision, algorithm, threads)``; ``ms`` is the median
time of one call of that layer. ``algorithm`` is ``null`` for ops without kernel variants (pooling,
element-wise ops). The precision in a key is the precision the *kernel* runs at
(:func:`timing_precision`): a DoReFa layer run by an int8 kernel is timed as ``int8``.

``method`` says how the times were obtained: ``measured`` on the board (``edgeconv profile``), or
``estimated (qemu+llvm-mca)`` by ``edgeconv profile --runner qemu --estimate`` for a board that
cannot be reached (instruction counts under QEMU, cycles from llvm-mca; ``edgeconv.profile.estimate``).

A table for a target lives in the user's cache, ``~/.cache/edgeconv/tables/<target>.json``
(``$EDGECONV_CACHE_DIR`` or ``$XDG_CACHE_HOME/edgeconv`` replace ``~/.cache/edgeconv``), or is
passed explicitly (``compress --latency-table``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import UserError
from ..host_tools import cache_root
from ..ir import Graph, Node

FORMAT = "edgeconv-latency-table"
VERSION = 1
MEASURED_METHOD = "measured"
ESTIMATED_METHOD = "estimated (qemu+llvm-mca)"
METHODS = (MEASURED_METHOD, ESTIMATED_METHOD)

# Attributes that do not change how long a layer takes: left out of the shape signature.
_TIMING_NEUTRAL_ATTRS = frozenset({"clamp", "value", "alpha", "eps", "beta", "lo", "hi"})


def user_table_path(target_name: str) -> Path:
    return cache_root() / "tables" / f"{target_name}.json"


@dataclass(frozen=True)
class LatencyKey:
    op: str
    shape: str
    precision: str
    algorithm: Optional[str]
    threads: int = 1


def _dims(shape: tuple) -> str:
    return "x".join(str(d) for d in shape)


def _attr_text(value) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def shape_signature(graph: Graph, node: Node) -> str:
    """The shapes and timing-relevant attributes of a node, as a stable string.

    Activation inputs are ``x``, ``x1``, ...; the weight (slot ``weight``) is ``w``; then the op's
    attributes in name order, without those that do not change the time (fused clamp, pad value).
    """
    parts = []
    slots = node.op.INPUTS
    activations = 0
    for i, name in enumerate(node.inputs):
        if name is None:
            continue
        tensor = graph.tensors[name]
        slot = slots[i] if i < len(slots) and slots != ("*",) else "*"
        if slot == "weight":
            parts.append(f"w={_dims(tensor.shape)}")
        elif not tensor.is_constant:
            parts.append(f"{'x' if activations == 0 else f'x{activations}'}={_dims(tensor.shape)}")
            activations += 1
    attrs = node.op.attrs()
    parts += [f"{k}={_attr_text(attrs[k])}" for k in sorted(attrs) if k not in _TIMING_NEUTRAL_ATTRS]
    return ";".join(parts)


def timing_precision(precision: str, algorithm: Optional[str]) -> str:
    """The precision a kernel actually runs at: int8 kernels run every quantized layer as int8."""
    if algorithm is None or algorithm in ("ec_s8_conv2d_bitserial", "ec_b1_conv2d_xnor"):
        return precision
    return "fp32" if algorithm.startswith("ec_f32_") else "int8"


@dataclass
class LatencyTable:
    target: str
    board: str
    date: str
    compiler: str
    cflags: tuple = ()
    entries: dict = field(default_factory=dict)  # LatencyKey -> ms
    path: Optional[Path] = None
    method: str = MEASURED_METHOD  # one of METHODS

    def lookup(self, key: LatencyKey) -> Optional[float]:
        return self.entries.get(key)

    def add(self, key: LatencyKey, ms: float) -> None:
        if not ms >= 0:
            raise ValueError(f"latency must be >= 0 ms, got {ms}")
        self.entries[key] = float(ms)

    def merged_into(self, older: "LatencyTable") -> "LatencyTable":
        """This table with ``older``'s entries added where this one has no measurement of its own.

        Profiling several models for one board builds up one table: a key measured again takes
        the new time. Tables of another target, compiler or method are not merged (their times do
        not describe this build the same way): this table is returned as it is.
        """
        if (older.target != self.target or older.compiler != self.compiler or tuple(older.cflags) != tuple(self.cflags)
                or older.method != self.method):
            return self
        merged = {**older.entries, **self.entries}
        return LatencyTable(self.target, self.board, self.date, self.compiler, self.cflags, merged, self.path, self.method)

    def to_json(self) -> dict:
        entries = sorted(self.entries.items(), key=lambda kv: (kv[0].op, kv[0].shape, kv[0].precision, kv[0].algorithm or "", kv[0].threads))
        return {
            "format": FORMAT,
            "version": VERSION,
            "target": self.target,
            "board": self.board,
            "date": self.date,
            "compiler": self.compiler,
            "cflags": list(self.cflags),
            "method": self.method,
            "entries": [
                {"op": k.op, "shape": k.shape, "precision": k.precision, "algorithm": k.algorithm, "threads": k.threads, "ms": ms}
                for k, ms in entries
            ],
        }


def save_table(table: LatencyTable, path) -> Path:
    """Write ``table`` as JSON (atomically: a temporary file renamed over ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(table.to_json(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    table.path = path
    return path


def _entry_key(entry, path: Path, i: int) -> tuple:
    where = f"{path}: entries[{i}]"
    if not isinstance(entry, dict):
        raise UserError(f"{where} must be an object")
    for key in ("op", "shape", "precision"):
        if not isinstance(entry.get(key), str):
            raise UserError(f"{where}: key {key} must be a string")
    algorithm = entry.get("algorithm")
    if algorithm is not None and not isinstance(algorithm, str):
        raise UserError(f"{where}: key algorithm must be a string or null")
    threads = entry.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise UserError(f"{where}: key threads must be a positive integer")
    ms = entry.get("ms")
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not ms >= 0:
        raise UserError(f"{where}: key ms must be a number >= 0")
    return LatencyKey(entry["op"], entry["shape"], entry["precision"], algorithm, threads), float(ms)


def merged_with_saved(table: LatencyTable, path) -> LatencyTable:
    """``table`` with the entries of the table saved at ``path`` that it does not measure again
    (``LatencyTable.merged_into``); ``table`` itself when nothing is saved there."""
    path = Path(path)
    return table.merged_into(load_table(path)) if path.is_file() else table


def load_table(path) -> LatencyTable:
    """Read a latency table; a malformed file is a UserError naming the file and the key."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"latency table {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON latency table ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path}: key format must be {FORMAT!r}")
    if data.get("version") != VERSION:
        raise UserError(f"{path}: key version must be {VERSION}, got {data.get('version')!r}")
    for key in ("target", "board", "date", "compiler"):
        if not isinstance(data.get(key), str):
            raise UserError(f"{path}: key {key} must be a string")
    if not isinstance(data.get("entries"), list):
        raise UserError(f"{path}: key entries must be a list")
    method = data.get("method", MEASURED_METHOD)
    if method not in METHODS:
        raise UserError(f"{path}: key method must be one of {', '.join(repr(m) for m in METHODS)}, got {method!r}")
    table = LatencyTable(data["target"], data["board"], data["date"], data["compiler"], tuple(data.get("cflags", ())),
                         path=path, method=method)
    for i, entry in enumerate(data["entries"]):
        key, ms = _entry_key(entry, path, i)
        table.entries[key] = ms
    return table


def user_table(target_name: str) -> Optional[LatencyTable]:
    """The table ``edgeconv profile`` stored for ``target_name`` in the user's cache, if any."""
    path = user_table_path(target_name)
    return load_table(path) if path.is_file() else None
