"""Compile-time memory planning of the static activation arena.

Algorithm (greedy by size, as TFLite Micro's GreedyMemoryPlanner):

1. Every buffer -- an intermediate tensor or a kernel's scratch -- has a size in bytes and a
   lifetime ``[first, last]``: the index of the layer that writes it and of the last layer that
   reads it (scratch lives during its one layer). Two buffers may share bytes only when their
   lifetimes are disjoint.
2. In place: before planning, a layer whose kernel may write over an input (an elementwise op, or
   a reshape that moves no data) and which is that input's last reader stores its output in the
   input's buffer; the two tensors then form one buffer whose lifetime is the union and whose size
   the larger.
3. Buffers are placed largest first (ties: earlier first use, then name, so plans are
   reproducible). Each goes at the lowest offset, aligned to ``ALIGNMENT``, where it overlaps no
   already placed buffer whose lifetime intersects its own.

The arena size is the highest end offset. Planning is O(n^2) in the number of buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALIGNMENT = 16


@dataclass
class Buffer:
    """A block of arena bytes live from layer ``first`` to layer ``last`` (inclusive)."""

    name: str
    size: int
    first: int
    last: int
    members: list = field(default_factory=list)  # tensor names sharing this buffer (in place)

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class ArenaPlan:
    offsets: dict   # buffer name -> byte offset
    size: int       # total arena bytes


def aligned(value: int) -> int:
    """``value`` rounded up to ``ALIGNMENT``."""
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def plan(buffers: list) -> ArenaPlan:
    """Place ``buffers`` (greedy by size, see the module doc) and return their offsets."""
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    placed: list = []  # (offset, buffer)
    offsets = {}
    for buf in order:
        busy = sorted((off, off + other.size) for off, other in placed if other.overlaps_in_time(buf))
        offset = 0
        for start, end in busy:
            if offset + buf.size <= start:
                break
            offset = max(offset, aligned(end))
        offsets[buf.name] = offset
        placed.append((offset, buf))
    size = max((off + b.size for off, b in placed), default=0)
    return ArenaPlan(offsets=offsets, size=aligned(size))
