"""The inputs ``verify`` feeds every runtime: the user's data, or 32 seeded random samples.

Arrays here are float32 in the IR's layout (channels-first); data in a channels-last source layout
(imported TFLite models) is transposed on reading. Random inputs cover each input's quantization
range: ``[s * (qmin - zp), s * (qmax - zp)]`` for a float input read by a Quantize node, the int8
codes ``qmin..qmax`` (dequantized, so re-quantizing them is exact) for an int8 input, and
``[-1, 1]`` for a float model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..errors import UserError
from ..ir import Graph, QuantParams, ops

RANDOM_SAMPLES = 32
RANDOM_SEED = 0
CHANNELS_LAST_LAYOUTS = ("NHWC", "NLC")


@dataclass(frozen=True)
class VerifyInputs:
    """``x``: one float32 array per graph input (IR layout); ``y``: labels or None."""

    x: list
    y: Optional[np.ndarray]
    source: str

    @property
    def samples(self) -> int:
        return int(self.x[0].shape[0])


def _input_quant(graph: Graph, name: str) -> Optional[QuantParams]:
    t = graph.tensors[name]
    if t.quant is not None:
        return t.quant
    readers = graph.consumers(name)
    if len(readers) == 1 and isinstance(readers[0].op, ops.Quantize):
        return graph.tensors[readers[0].output].quant
    return None


def random_inputs(graph: Graph, samples: int = RANDOM_SAMPLES, seed: int = RANDOM_SEED) -> VerifyInputs:
    rng = np.random.default_rng(seed)
    xs = []
    for name in graph.inputs:
        t = graph.tensors[name]
        shape = (samples, *t.shape[1:])
        q = _input_quant(graph, name)
        if q is None:
            xs.append(rng.uniform(-1.0, 1.0, size=shape).astype(np.float32))
            continue
        s, zp = float(q.scale[0]), int(q.zero_point[0])
        if t.dtype == "int8":
            codes = rng.integers(q.qmin, q.qmax + 1, size=shape)
            xs.append((s * (codes - zp)).astype(np.float32))
        else:
            xs.append(rng.uniform(s * (q.qmin - zp), s * (q.qmax - zp), size=shape).astype(np.float32))
    return VerifyInputs(xs, None, f"random-{samples}")


def to_ir_layout(x: np.ndarray, source_layout: str) -> np.ndarray:
    if source_layout in CHANNELS_LAST_LAYOUTS and x.ndim >= 3:
        return np.ascontiguousarray(np.moveaxis(x, -1, 1))
    return x


def to_source_layout(x: np.ndarray, source_layout: str) -> np.ndarray:
    """IR (channels-first) -> the source model's layout, which edgeconv_run reads."""
    if source_layout in CHANNELS_LAST_LAYOUTS and x.ndim >= 3:
        return np.ascontiguousarray(np.moveaxis(x, 1, -1))
    return x


def load_inputs(graph: Graph, data: Union[None, str, Path, object]) -> VerifyInputs:
    """``data``: None (random), a path (.npz or image folder), or a loaded ``Dataset``."""
    if data is None:
        return random_inputs(graph)
    if len(graph.inputs) != 1:
        raise UserError(f"--data gives one input array but the model has {len(graph.inputs)} inputs")
    if isinstance(data, (str, Path)):
        from ..data import load_data
        data = load_data(data, graph)
    x = np.asarray(data.x, dtype=np.float32)
    if len(x) == 0:
        raise UserError("the verification data holds no samples")
    y = None if data.y is None else np.asarray(data.y)
    return VerifyInputs([to_ir_layout(x, graph.source_layout)], y, "data")
