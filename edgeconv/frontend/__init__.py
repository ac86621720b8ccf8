"""Frontends: a model file to a verified IR graph with inferred shapes.

``load_model`` recognises the file by its content first and its suffix second:

- a torch.export archive (``.pt2``: a zip holding ``archive_format``), the preferred input;
- a TorchScript archive (a zip holding ``code/``), which needs ``input_shape``;
- an ONNX model (``.onnx``);
- a TFLite flatbuffer (``.tflite``, identifier ``TFL3``), imported with its quantization;
- a ``torch.save`` file: a state_dict is refused (no architecture); a pickled ``nn.Module`` is
  loaded only with ``trust_pickle``, because unpickling runs code named by the file.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Callable, Optional

from ..errors import UserError
from ..ir import Graph
from .common import exception_summary

PYTORCH_SUFFIXES = (".pt2", ".pt", ".pth", ".ptl", ".bin")


def _zip_kind(path: Path) -> Optional[str]:
    try:
        names = zipfile.ZipFile(path).namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if any(n == "archive_format" or n.endswith("/archive_format") for n in names):
        return "pt2"
    if any("/code/" in n or n.startswith("code/") or n.endswith("constants.pkl") for n in names):
        return "torchscript"
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "torch-save"
    return None


def detect_format(path: Path) -> str:
    """One of ``pt2``, ``torchscript``, ``torch-save``, ``onnx``, ``tflite``; UserError otherwise."""
    with open(path, "rb") as f:
        head = f.read(8)
    if zipfile.is_zipfile(path):
        kind = _zip_kind(path)
        if kind is None:
            raise UserError(f"{path} is a zip archive but not a PyTorch model (no torch.export, TorchScript "
                            f"or torch.save content)")
        return kind
    if head[4:8] == b"TFL3" or path.suffix == ".tflite":
        return "tflite"
    if path.suffix == ".onnx":
        return "onnx"
    if head[:1] == b"\x80":  # a pickle stream: torch.save's legacy (non-zip) format
        return "torch-save"
    if path.suffix in PYTORCH_SUFFIXES:
        raise UserError(f"{path} is not a readable PyTorch model: the file is truncated, corrupt or of "
                        f"another format")
    raise UserError(f"{path}: unrecognised model format; give a .pt2 (torch.export), .pt (TorchScript), "
                    f".onnx or .tflite file")


def _load_torch_save(path: Path, input_shape: Optional[tuple], trust_pickle: bool) -> Graph:
    import torch

    try:
        content = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc):
            raise UserError(f"{path} is not a readable torch.save file ({exception_summary(exc)})") from None
        content = None  # holds Python objects beyond tensors: a pickled module, most likely
    except Exception as exc:  # noqa: BLE001 - truncated or corrupt archives fail in many ways
        raise UserError(f"{path} is not a readable torch.save file ({exception_summary(exc)})") from None
    if content is None:
        if not trust_pickle:
            raise UserError(f"{path} is a pickled Python object (a whole nn.Module saved with torch.save); "
                            f"loading it runs code from the file, so it is only done with --trust-pickle; "
                            f"better, save the model with torch.export.save as a .pt2")
        from .pickle_module import load_pickled_module

        return load_pickled_module(path, input_shape)
    if isinstance(content, dict):
        raise UserError(f"{path} holds a state_dict (weights without the model's architecture); save the model "
                        f"itself, e.g. torch.export.save(torch.export.export(model.eval(), (example_input,)), "
                        f"'model.pt2')")
    raise UserError(f"{path} holds a {type(content).__name__}, not a model")


def _load_pt2(path: Path, input_shape: Optional[tuple], trust_pickle: bool) -> Graph:
    from .torch_export import load_pt2

    return load_pt2(path, input_shape, trust_pickle)


def _load_torchscript(path: Path, input_shape: Optional[tuple], trust_pickle: bool) -> Graph:
    from .torchscript import load_torchscript

    return load_torchscript(path, input_shape)


def _load_onnx(path: Path, input_shape: Optional[tuple], trust_pickle: bool) -> Graph:
    from .onnx_import import load_onnx

    return load_onnx(path, input_shape)


def _load_tflite(path: Path, input_shape: Optional[tuple], trust_pickle: bool) -> Graph:
    from .tflite import load_tflite

    return load_tflite(path)


LOADERS: dict[str, Callable] = {
    "pt2": _load_pt2,
    "torchscript": _load_torchscript,
    "torch-save": _load_torch_save,
    "onnx": _load_onnx,
    "tflite": _load_tflite,
}


def load_model(path, input_shape: Optional[tuple] = None, trust_pickle: bool = False) -> Graph:
    """Read the model at ``path`` into a verified IR graph (shapes inferred, batch 1) with one input."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty")
    if input_shape is not None:
        input_shape = tuple(int(d) for d in input_shape)
        if len(input_shape) < 2 or any(d <= 0 for d in input_shape):
            raise UserError(f"input shape {input_shape} is not a valid (N, C, ...) shape")
    graph = LOADERS[detect_format(path)](path, input_shape, trust_pickle)
    _check_single_input(path, graph)
    return graph


def _check_single_input(path: Path, graph: Graph) -> None:
    """Refuse a model without exactly one input: data, calibration and every backend feed one."""
    if len(graph.inputs) != 1:
        names = f" ({', '.join(graph.inputs)})" if graph.inputs else ""
        raise UserError(f"{path}: the model has {len(graph.inputs)} inputs{names}; edgeconv compiles models "
                        f"with exactly one input")


__all__ = ["load_model", "detect_format"]
