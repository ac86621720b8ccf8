"""One layer's call cut into tasks for the thread pool of the generated C (``ec_parallel.h``).

The registry entry of each kernel says how its calls are cut (``kernels/split.py``); this module
writes the C of one task. A task's code runs inside ``<prefix>task_<i>(arena, task, tasks)``
(``generate.py``), where ``u0`` and ``u1`` are the first and past-the-last unit of the task
(``ec_share``): output rows, positions, channels or elements. Pointers move by whole units and
the kernel is called on the part as on a layer of its own, so each output byte is computed as in
one call over the whole layer.
"""

from __future__ import annotations

import math

from ...kernels import split as splits
from ...kernels.registry import BY_NAME
from .emitter import Emitter
from .layout import hwc3


def task_count(em: Emitter, kernel: str, out_shape: tuple, work: int) -> int:
    """Tasks the layer is cut into for the thread count the model is generated for."""
    return splits.task_count(BY_NAME[kernel].split, tuple(out_shape), int(work), em.threads, em.min_task_work)


def note(kernel: str, tasks: int) -> str:
    return f"{tasks} tasks by {BY_NAME[kernel].split.describe()}"


def unit_range(kernel: str, units: int) -> str:
    """The declaration of ``u0``, ``u1``: this task's share of ``units``."""
    granule = BY_NAME[kernel].split.granule
    return (f"const int32_t u0 = ec_share({units}, {granule}, task, tasks);\n"
            f"    const int32_t u1 = ec_share({units}, {granule}, task + 1, tasks);")


def row_elements(em: Emitter, name: str) -> int:
    """Elements (int8 codes, floats or packed words, as the C pointer counts) of one row of the
    channels-last tensor ``name``."""
    t = em.graph.tensors[name]
    h, _, _ = hwc3(t.shape)
    item = 4 if name in em.packed or t.dtype in ("float32", "int32") else 1
    return em.sample_bytes(name) // item // h


def position_elements(em: Emitter, name: str) -> int:
    """Elements of one position (H x W) of ``name``: its channels (packed: words per position)."""
    t = em.graph.tensors[name]
    h, w, _ = hwc3(t.shape)
    item = 4 if name in em.packed or t.dtype in ("float32", "int32") else 1
    return em.sample_bytes(name) // item // (h * w)


def rows_task(kernel: str, win: str, out_h: int, call: str) -> str:
    """A task of a window op over output rows: ``call`` reads window ``part``, its input from row
    ``first`` and writes from output row ``u0``."""
    return (f"{unit_range(kernel, out_h)}\n"
            f"    ec_window_t part;\n"
            f"    const int32_t first = ec_window_rows(&{win}, u0, u1, &part);\n"
            f"    {call}")


def positions_task(kernel: str, win: str, positions: int, call: str) -> str:
    """A task of a pointwise layer over output positions [u0, u1), window ``part``."""
    return (f"{unit_range(kernel, positions)}\n"
            f"    ec_window_t part;\n"
            f"    ec_window_positions(&{win}, u0, u1, &part);\n"
            f"    {call}")


def units_task(kernel: str, units: int, call: str) -> str:
    """A task over units [u0, u1) that ``call`` addresses itself (channels, elements, rows)."""
    return f"{unit_range(kernel, units)}\n    {call}"


def at(pointer: str, unit: str, elements: int) -> str:
    """``pointer`` moved by ``unit`` units of ``elements`` elements each."""
    if elements == 1:
        return f"({pointer} + {unit})"
    return f"({pointer} + (size_t){unit} * {elements})"


def numel(shape: tuple) -> int:
    return math.prod(shape[1:])
