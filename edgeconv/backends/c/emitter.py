"""What every C lowering shares: the :class:`Emitter` that collects model.c's constant definitions
and names activation buffers by placeholders (``${t3}``, ``${scratch}``) that the generator fills in
after the arena is planned, the :class:`LayerCall` a lowering returns, and C literals."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ...ir import Graph, Node
from ...kernels.registry import BY_NAME
from .layout import sample_bytes

FLOAT_MAX = "FLT_MAX"


class Unsupported(Exception):
    """The node cannot be lowered to a C kernel (the message says why)."""


def require(cond: bool, message: str) -> None:
    if not cond:
        raise Unsupported(message)


@dataclass
class LayerCall:
    """The C for one IR node."""

    node: Node
    kernel: str                      # kernel name (kernels_c file stem)
    summary: str                     # comment text after the node name
    code: str                        # C statements with ${tN} / ${scratch} placeholders
    reads: list                      # activation tensors read
    scratch_bytes: int = 0
    inplace_of: Optional[str] = None  # input whose buffer the output may take over
    alias_of: Optional[str] = None    # output is the same bytes as this input (no code)
    skipped_nodes: tuple = ()         # nodes fused into this call
    tasks: int = 1                    # > 1: ``code`` is one task of that many (tasks.py)
    split_note: str = ""              # how the tasks share the output, for model.c's comment

    @property
    def algorithm(self) -> str:
        return BY_NAME[self.kernel].algorithm


@dataclass
class Emitter:
    """Collects the constant definitions of model.c and maps tensors to placeholders."""

    graph: Graph
    prefix: str
    threads: int = 1                 # the thread count the model is generated for (tasks.py)
    min_task_work: Optional[int] = None  # least work per task; None: each kernel's own (kernels/split.py)
    definitions: list = field(default_factory=list)
    weights_bytes: int = 0
    # Flattened tensors kept in channels-last byte order (see reshape.lower_reshape): name -> (C, H*W).
    channels_last_flat: dict = field(default_factory=dict)
    # {-1, +1} tensors held as packed words between binary layers (packed.py): name -> bytes, and
    # the popcount limits of each XNOR convolution writing them: node name -> array.
    packed: dict = field(default_factory=dict)
    pop_limits: dict = field(default_factory=dict)
    _ids: dict = field(default_factory=dict)
    _names: set = field(default_factory=set)

    def tensor_id(self, name: str) -> str:
        if name not in self._ids:
            self._ids[name] = f"t{len(self._ids)}"
        return self._ids[name]

    def buf(self, name: str) -> str:
        return "${" + self.tensor_id(name) + "}"

    def sample_bytes(self, name: str) -> int:
        """Bytes of one sample of tensor ``name`` in C: packed words or its dtype's elements."""
        return self.packed.get(name) or sample_bytes(self.graph.tensors[name])

    def _symbol(self, base: str) -> str:
        stem = re.sub(r"[^0-9A-Za-z_]", "_", base)
        sym, i = f"{self.prefix}{stem}", 1
        while sym in self._names:
            i += 1
            sym = f"{self.prefix}{stem}_{i}"
        self._names.add(sym)
        return sym

    def array(self, base: str, ctype: str, values: np.ndarray, weights: bool = True) -> str:
        """A 16-byte-aligned ``static const`` array; returns its symbol."""
        values = np.asarray(values).reshape(-1)
        sym = self._symbol(base)
        body = _format_values(values, ctype)
        self.definitions.append(f"static EC_ALIGN16 const {ctype} {sym}[{max(values.size, 1)}] = {{\n{body}\n}};")
        if weights:
            self.weights_bytes += values.size * C_TYPE_BYTES[ctype]
        return sym

    def struct(self, base: str, ctype: str, fields: dict) -> str:
        """A ``static const`` parameter struct with designated initializers (field name -> value, in
        declaration order); returns its symbol."""
        sym = self._symbol(base)
        head = f"static const {ctype} {sym} = {{"
        items = [f".{name} = {value}" for name, value in fields.items()]
        one_line = f"{head}{', '.join(items)}}};"
        if len(one_line) <= STRUCT_LINE:
            self.definitions.append(one_line)
        else:
            self.definitions.append("\n".join([head, *_wrapped(items, STRUCT_LINE), "};"]))
        return sym


STRUCT_LINE = 100  # longest line of a struct initializer


def _wrapped(items: list, width: int) -> list:
    """``items`` joined by ", " into lines of at most ``width`` characters, indented by 4."""
    lines, line = [], ""
    for item in items:
        candidate = f"{line}, {item}" if line else item
        if line and len(candidate) + 5 > width:
            lines.append(f"    {line},")
            candidate = item
        line = candidate
    lines.append(f"    {line}")
    return lines


# Bytes of each C element type the generator stores (the numpy copy may be wider).
C_TYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "uint32_t": 4, "float": 4}


def _format_values(values: np.ndarray, ctype: str) -> str:
    if values.size == 0:
        return "    0"
    if ctype == "float":
        items = [float_literal(v) for v in values.astype(np.float32)]
        per_line = 6
    else:
        items = [str(int(v)) if ctype != "uint32_t" else f"0x{int(v):08x}u" for v in values]
        per_line = 8 if ctype == "uint32_t" else 16
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join("    " + line for line in lines)


def float_literal(value) -> str:
    """A C float literal that reads back as exactly the same float32."""
    v = np.float32(value)
    if np.isinf(v):
        return FLOAT_MAX if v > 0 else "-" + FLOAT_MAX
    return np.format_float_scientific(v, unique=True, trim="0") + "f"


def float_bound(value, default: str) -> str:
    return default if value is None else float_literal(value)


def float_clamp(clamp: tuple) -> tuple:
    """C literals of a fused float clamp ``(lo, hi)``, unbounded sides as -FLT_MAX / FLT_MAX."""
    lo, hi = clamp
    return float_bound(lo, "-" + FLOAT_MAX), float_bound(hi, FLOAT_MAX)
