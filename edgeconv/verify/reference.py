"""What the reference executor says for the verification inputs.

For each graph output the float value and, when the .tflite's output is the int8 tensor before the
output's Dequantize node (a quantized model), that int8 tensor: runtimes returning int8 are
compared with it in LSB, runtimes returning float with the float output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..backends.tflite import model_io
from ..ir import Graph
from ..quant.activation_range import round_half_away
from ..reference import executor
from .inputs import VerifyInputs

BATCH = 64


@dataclass(frozen=True)
class ReferenceOutputs:
    names: tuple
    float_outputs: list
    int8_outputs: list  # per output: the int8 tensor the .tflite returns, or None

    def accuracy(self, y: Optional[np.ndarray]) -> Optional[float]:
        """The first output's accuracy on labels ``y``; None without labels or where they do not
        fit the output's shape (:func:`labels_fit`)."""
        classes = predicted_classes(self.float_outputs[0])
        if not labels_fit(y, classes):
            return None
        return float(np.mean(classes == y))


def top1(output: np.ndarray) -> np.ndarray:
    """Index of the largest value of each sample (over all of its non-batch elements)."""
    return output.reshape(output.shape[0], -1).argmax(axis=1)


def is_dense(output: np.ndarray) -> bool:
    """A dense map: channels-first ``(N, C, L)`` or ``(N, C, H, W)`` with more than one channel,
    so each position has a class of its own."""
    return output.ndim >= 3 and output.shape[1] > 1


def predicted_classes(output: np.ndarray) -> np.ndarray:
    """The classes the top-1 rule compares: for a dense map the argmax over channels at each
    position, shape ``(N, *positions)``; for any other output (a classifier's ``(N, K)``, a
    one-channel map) the argmax over each sample's elements (:func:`top1`), shape ``(N,)``."""
    return output.argmax(axis=1) if is_dense(output) else top1(output)


def labels_fit(y: Optional[np.ndarray], classes: np.ndarray) -> bool:
    """Labels fit an output when there is one per predicted class: ``(N,)`` for a classifier,
    ``(N, *positions)`` for a dense map."""
    return y is not None and tuple(y.shape) == tuple(classes.shape)


def quantize_codes(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 as TFLite's QUANTIZE: ``clamp(zp + round_half_away(f32(x) / f32(s)))``."""
    ratio = x.astype(np.float32) / np.float32(scale)
    return np.clip(round_half_away(ratio) + zero_point, -128, 127).astype(np.int8)


def reference_outputs(graph: Graph, inputs: VerifyInputs) -> ReferenceOutputs:
    """The reference's outputs on ``inputs``, run ``BATCH`` samples at a time (a run holds every
    intermediate tensor of its samples; each sample's values do not depend on the others')."""
    feeds = {}
    for name, x in zip(graph.inputs, inputs.x):
        t = graph.tensors[name]
        if t.dtype == "int8":
            x = quantize_codes(x, float(t.quant.scale[0]), int(t.quant.zero_point[0]))
        feeds[name] = x
    io = model_io(graph)
    wanted = list(dict.fromkeys([*graph.outputs, *io.outputs]))
    parts = {name: [] for name in wanted}
    for start in range(0, inputs.samples, BATCH):
        values = executor.run(graph, {k: v[start:start + BATCH] for k, v in feeds.items()}, keep=True)
        for name in wanted:
            parts[name].append(values[name])
    values = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    int8 = [values[name] if graph.tensors[name].dtype == "int8" else None for name in io.outputs]
    return ReferenceOutputs(tuple(graph.outputs), [values[n] for n in graph.outputs], int8)
