"""ResizeBilinear in ONNX: a float ``Resize`` (linear) between float tensors; between int8 tensors
TFLite's integer blend written on the codes, so ONNX Runtime computes the reference's bytes.

In QDQ form ONNX Runtime blends in float and rounds once, half to even, from weights it computes
itself, and lands one or two codes away from TFLite's fixed-point result on a few percent of
outputs (more at ``align_corners``). The integer form (``reference.int_kernels.resize_bilinear``,
taps of ``quant/bilinear.py``) uses only exact int64 operations: the codes ``x`` (``Gather`` of
the rows and columns each output reads), ``acc = sum of x * w`` with the constant weights
``(1024 - fy)(1024 - fx)``, ``fy (1024 - fx)``, ``(1024 - fy) fx``, ``fy fx`` (``|acc| < 2^31``),
then TFLite's rounding half away from zero as ``sign(acc) * floor((|acc| + 2^19) / 2^20)``.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ...ir import Node
from ...quant import bilinear
from .emitter import UINT8_OFFSET, Emitter
from .integer import dequantize_codes, floor_div_pow2, uint8_codes


def _int64(e: Emitter, base: str, value) -> str:
    return e.initializer(base, np.asarray(value, dtype=np.int64))


def _float_resize(e: Emitter, node: Node) -> None:
    """Resize (linear) of axes 2 and 3 to the op's size (the batch left free), with ``half_pixel``
    coordinates (PyTorch's ``align_corners=False``) or ``align_corners``."""
    transform = "align_corners" if node.op.align_corners else "half_pixel"
    e.add("Resize", [e.value(node.input("x")), "", "", _int64(e, node.output + "_sizes", node.op.size)],
          [e.result(node)], mode="linear", coordinate_transformation_mode=transform, axes=[2, 3])
    e.finish(node, keeps_grid=True)


def _integer_resize(e: Emitter, node: Node) -> None:
    g = e.graph
    x, y = g.tensors[node.input("x")], g.tensors[node.output]
    base = node.output
    ry = bilinear.int_taps(x.shape[2], y.shape[2], node.op.align_corners)
    rx = bilinear.int_taps(x.shape[3], y.shape[3], node.op.align_corners)
    stored, codes = e.unique(base + "_int64"), e.unique(base + "_codes")
    e.add("Cast", [uint8_codes(e, e.value(node.input("x")), x.quant, base + "_in")], [stored], to=TensorProto.INT64)
    e.add("Sub", [stored, _int64(e, base + "_offset", UINT8_OFFSET)], [codes])
    rows = {}
    for side, index in (("top", ry.lo), ("bottom", ry.hi)):
        rows[side] = e.unique(f"{base}_{side}")
        e.add("Gather", [codes, _int64(e, f"{base}_{side}_rows", index)], [rows[side]], axis=2)
    one = bilinear.ONE
    fy, fx = ry.frac.astype(np.int64)[:, None], rx.frac.astype(np.int64)[None, :]
    terms = []
    for side, wy in (("top", one - fy), ("bottom", fy)):
        for col, index, wx in (("left", rx.lo, one - fx), ("right", rx.hi, fx)):
            taps, term = e.unique(f"{base}_{side}_{col}"), e.unique(f"{base}_{side}_{col}_weighted")
            e.add("Gather", [rows[side], _int64(e, f"{base}_{side}_{col}_cols", index)], [taps], axis=3)
            e.add("Mul", [taps, _int64(e, f"{base}_{side}_{col}_weights", wy * wx)], [term])
            terms.append(term)
    acc = terms[0]
    for term in terms[1:]:
        total = e.unique(base + "_acc")
        e.add("Add", [acc, term], [total])
        acc = total
    magnitude, nudged, sign, rounded, centred = (e.unique(base + s) for s in
                                                 ("_abs", "_nudged", "_sign", "_rounded", "_centred"))
    e.add("Abs", [acc], [magnitude])
    e.add("Add", [magnitude, _int64(e, base + "_half", 1 << 19)], [nudged])
    e.add("Sign", [acc], [sign])
    e.add("Mul", [sign, floor_div_pow2(e, nudged, 20, base + "_blend")], [rounded])
    e.add("Sub", [rounded, _int64(e, base + "_zero_point_in", int(y.quant.zero_point[0]))], [centred])
    dequantize_codes(e, centred, y.quant, (None, None), node.output)


def resize_bilinear(e: Emitter, node: Node) -> None:
    if e.graph.tensors[node.output].dtype == "int8":
        _integer_resize(e, node)
    else:
        _float_resize(e, node)
