"""Every IR op is known to every registry that must handle it, or declared not covered there.

Each registry is read as it is: its table keyed by IR op name (the float and integer reference
kernels, the torch executor's rules, the ONNX and TFLite writers, the C lowerings, the latency
model's costs) or, for a frontend, the IR ops its module constructs (every ``ops.<Op>`` it names).
An op a registry deliberately lacks is listed, with the reason, in the ``NOT_COVERED`` dict of the
module that holds the registry. The failure names each op missing from a registry, each declared
gap that is in fact covered or names no IR op, and each gap without a reason.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import pytest

from edgeconv.backends.c import lowering as c_lowering
from edgeconv.backends.onnx import op_table as onnx_writer
from edgeconv.backends.tflite import op_table as tflite_writer
from edgeconv.frontend import onnx_import, tflite as tflite_import, torch_export
from edgeconv.ir.ops import OPS
from edgeconv.kernels.registry import costed_kernels
from edgeconv.reference import float_kernels, int_kernels
from edgeconv.select import latency
from edgeconv.torchexec import float_ops
from edgeconv.torchexec.module import GraphModule


def constructed_ops(module: ModuleType) -> set:
    """The IR ops a frontend module constructs: every ``ops.<Op class>`` its source names."""
    name_of_class = {cls.__name__: name for name, cls in OPS.items()}
    tree = ast.parse(inspect.getsource(module))
    return {name_of_class[node.attr] for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ops"
            and node.attr in name_of_class}


def latency_covered() -> set:
    """Ops the latency model costs: by element (``ELEMENT_CYCLES``), free (layout-only ops) or
    through the kernel registry (weighted ops with a costed kernel)."""
    costed = {k.op for k in costed_kernels()}
    return {name for name, cls in OPS.items()
            if name in latency.ELEMENT_CYCLES or cls.LAYOUT_ONLY or (cls.WEIGHTED and name in costed)}


@dataclass(frozen=True)
class Registry:
    what: str  # how the failure names it
    module: ModuleType  # holds the registry and its NOT_COVERED table
    covered: Callable[[], set]


REGISTRIES = [
    Registry("float reference kernel (KERNELS)", float_kernels, lambda: set(float_kernels.KERNELS)),
    Registry("integer reference kernel (INT_KERNELS)", int_kernels, lambda: set(int_kernels.INT_KERNELS)),
    Registry("torch executor rule (float_ops.KERNELS, GraphModule._QUANTIZED_RULES)", float_ops,
             lambda: set(float_ops.KERNELS) | set(GraphModule._QUANTIZED_RULES)),
    Registry("torch.export / TorchScript conversion (HANDLERS)", torch_export, lambda: constructed_ops(torch_export)),
    Registry("ONNX import (HANDLERS)", onnx_import, lambda: constructed_ops(onnx_import)),
    Registry("TFLite import (HANDLERS)", tflite_import, lambda: constructed_ops(tflite_import)),
    Registry("ONNX writer (OP_WRITERS)", onnx_writer, lambda: set(onnx_writer.OP_WRITERS)),
    Registry("TFLite writer (OP_WRITERS)", tflite_writer, lambda: set(tflite_writer.OP_WRITERS)),
    Registry("C lowering (LOWERINGS)", c_lowering, lambda: set(c_lowering.LOWERINGS)),
    Registry("latency model (ELEMENT_CYCLES, LAYOUT_ONLY, kernel registry costs)", latency, latency_covered),
]


def coverage_faults(registry: Registry) -> list:
    covered = registry.covered()
    declared = getattr(registry.module, "NOT_COVERED", {})
    where = registry.module.__name__
    faults = [f"{op}: no {registry.what} in {where}, and no NOT_COVERED entry with a reason there"
              for op in OPS if op not in covered and op not in declared]
    faults += [f"{op}: declared NOT_COVERED in {where} but it has a {registry.what}"
               for op in declared if op in covered]
    faults += [f"{op}: declared NOT_COVERED in {where} but it is no IR op" for op in declared if op not in OPS]
    faults += [f"{op}: NOT_COVERED in {where} gives no reason"
               for op, reason in declared.items() if not (isinstance(reason, str) and reason.strip())]
    return faults


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.module.__name__.removeprefix("edgeconv."))
def test_every_op_is_registered_or_declared_not_covered(registry):
    faults = coverage_faults(registry)
    assert not faults, "\n".join(faults)


def test_a_missing_registration_is_named():
    """An op that neither the registry nor its NOT_COVERED table knows is reported by name."""
    lacking = Registry("ONNX writer (OP_WRITERS)", onnx_writer, lambda: set(onnx_writer.OP_WRITERS) - {"Gelu"})
    assert coverage_faults(lacking) == [
        "Gelu: no ONNX writer (OP_WRITERS) in edgeconv.backends.onnx.op_table, and no NOT_COVERED entry with a reason there"]


def test_frontends_are_read_from_the_ops_they_construct():
    assert {"Gelu", "Conv", "BatchNorm", "SiLU"} <= constructed_ops(torch_export)
    assert "SiLU" not in constructed_ops(onnx_import)
    assert {"Quantize", "Dequantize", "Gelu"} <= constructed_ops(tflite_import)
