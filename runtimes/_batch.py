"""Batch handling shared by the adapters: one input array or several, one output or several."""

from __future__ import annotations

from typing import Callable, Sequence, Union

import numpy as np

Inputs = Union[np.ndarray, Sequence[np.ndarray]]


def as_input_list(x: Inputs) -> list:
    """One array -> ``[array]``; a list or tuple of arrays stays a list."""
    if isinstance(x, np.ndarray):
        return [x]
    return [np.asarray(a) for a in x]


def batch_size(inputs: list) -> int:
    sizes = {int(a.shape[0]) for a in inputs}
    if len(sizes) != 1:
        raise ValueError(f"inputs disagree on the batch size: {sorted(sizes)}")
    return sizes.pop()


def run_per_sample(inputs: list, run_one: Callable[[list], list]) -> list:
    """Call ``run_one`` on each sample (batch of 1) and stack each output along dimension 0."""
    results = [run_one([a[i:i + 1] for a in inputs]) for i in range(batch_size(inputs))]
    return [np.concatenate([r[k] for r in results], axis=0) for k in range(len(results[0]))]


def single_or_list(outputs: list):
    return outputs[0] if len(outputs) == 1 else outputs
