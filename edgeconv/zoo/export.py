"""Writing a zoo model (or any module) as a model file the frontends read, and demo data files.

The suffix picks the format: ``.pt2`` torch.export (dynamic batch), ``.pt`` TorchScript (traced),
``.onnx`` ONNX (torch.onnx's exporter, dynamic batch).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import nn

from .models import INPUT_SHAPE


def _example(input_shape: tuple, batch: int) -> torch.Tensor:
    return torch.zeros((batch, *input_shape[1:]))


def _save_pt2(module: nn.Module, path: Path, input_shape: tuple) -> None:
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(module, (_example(input_shape, 2),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))


def _save_torchscript(module: nn.Module, path: Path, input_shape: tuple) -> None:
    torch.jit.trace(module, _example(input_shape, 1)).save(str(path))


def _save_onnx(module: nn.Module, path: Path, input_shape: tuple) -> None:
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter narrates its steps on stdout
        torch.onnx.export(module, (_example(input_shape, 2),), str(path), input_names=["x"], output_names=["logits"],
                          dynamic_shapes=({0: "batch"},), dynamo=True, external_data=False)


WRITERS = {".pt2": _save_pt2, ".pt": _save_torchscript, ".onnx": _save_onnx}


def export_module(module: nn.Module, path, input_shape: tuple = INPUT_SHAPE) -> Path:
    """Write ``module`` (put in eval mode) to ``path`` in the format its suffix names."""
    path = Path(path)
    writer = WRITERS.get(path.suffix)
    if writer is None:
        raise ValueError(f"cannot export to {path.suffix!r}; use one of {', '.join(WRITERS)}")
    writer(module.eval(), path, tuple(input_shape))
    return path


def export(name: str, path, module: Optional[nn.Module] = None) -> Path:
    """Write zoo model ``name`` (trained, from the cache, unless ``module`` is given) to ``path``."""
    from .training import trained

    return export_module(module if module is not None else trained(name), path, INPUT_SHAPE)


def save_npz(path, x: np.ndarray, y: Optional[np.ndarray] = None) -> Path:
    """Write a data file as ``--data`` reads it: ``x`` float32 in the model's layout, ``y`` labels."""
    arrays = {"x": np.ascontiguousarray(x, dtype=np.float32)}
    if y is not None:
        arrays["y"] = np.asarray(y, dtype=np.int64)
    path = Path(path)
    np.savez(path, **arrays)
    return path
