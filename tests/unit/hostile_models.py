"""Real model files that are damaged or crafted, for the frontend's refusal tests.

Every file here is made the way a user (or an attacker) would make it: a real export, then a real
edit of its bytes. The crafted ``.pt2`` archives carry pickles whose ``__reduce__`` creates a
marker file when unpickled by an unrestricted unpickler, so a test can see whether code ran.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tests.conftest import TINY_INPUT_SHAPE, write_tiny_onnx

SAMPLE_INPUTS_MEMBER = "data/sample_inputs/model.pt"
FIRST_WEIGHT_MEMBER = "data/weights/weight_0"
PROGRAM_MEMBER = "models/model.json"


class TinyConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class LoopNet(nn.Module):
    """A loop over a size: TorchScript keeps it as ``prim::Loop``, which torch's converter refuses."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        y = self.conv(x)
        for _ in range(x.size(2) // 4):
            y = y + 1
        return y


class _CreateFile:
    """Unpickles to an open file: creating ``path`` is the code the pickle runs."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class _CreateFileAndReturnInputs:
    """Unpickles to valid sample inputs, creating ``path`` on the way."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        shape = ", ".join(map(str, TINY_INPUT_SHAPE))
        return (eval, (f"(open({self.path!r}, 'w').close(), ((__import__('torch').zeros({shape}),), {{}}))[1]",))


def code_running_pickle(marker: Path, returns_inputs: bool = False) -> bytes:
    """A ``torch.save`` file, as the archive's members are, whose pickle creates ``marker``."""
    payload = _CreateFileAndReturnInputs(marker) if returns_inputs else _CreateFile(marker)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def write_tiny_pt2(path: Path, dynamic_batch: bool = False) -> Path:
    torch.manual_seed(0)
    example = torch.zeros((2, *TINY_INPUT_SHAPE[1:]) if dynamic_batch else TINY_INPUT_SHAPE)
    dynamic = ({0: torch.export.Dim("batch", min=2, max=64)},) if dynamic_batch else None
    torch.export.save(torch.export.export(TinyConvNet().eval(), (example,), dynamic_shapes=dynamic), str(path))
    return path


def replace_member(path: Path, member: str, edit) -> Path:
    """Rewrite the zip at ``path`` with ``edit(old bytes) -> new bytes`` applied to ``member``."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            archive.writestr(info, edit(data) if info.filename.endswith("/" + member) else data)
    return path


def pt2_with_pickled_sample_inputs(path: Path, marker: Path, returns_inputs: bool = False) -> Path:
    write_tiny_pt2(path)
    return replace_member(path, SAMPLE_INPUTS_MEMBER, lambda _: code_running_pickle(marker, returns_inputs))


def pt2_with_pickled_weight(path: Path, marker: Path) -> Path:
    """The first weight declared as pickled (as torch writes a tensor subclass) and replaced."""
    def declare_pickled(data: bytes) -> bytes:
        config = json.loads(data)
        for entry in config["config"].values():
            if entry["path_name"] == FIRST_WEIGHT_MEMBER.rsplit("/", 1)[1]:
                entry["use_pickle"] = True
        return json.dumps(config).encode()

    write_tiny_pt2(path)
    replace_member(path, "data/weights/model_weights_config.json", declare_pickled)
    return replace_member(path, FIRST_WEIGHT_MEMBER, lambda _: code_running_pickle(marker))


def pt2_with_code_in_shape_expression(path: Path, marker: Path) -> Path:
    """A dynamic-batch program whose batch symbol's assumptions call code when parsed."""
    def inject(data: bytes) -> bytes:
        program = data.decode()
        symbol = program.index("Symbol('")
        injected = f"Symbol('s0', positive=open({str(marker)!r}, 'w') is not None, "
        return (program[:symbol] + injected + program[program.index("integer=True)", symbol):]).encode()

    write_tiny_pt2(path, dynamic_batch=True)
    return replace_member(path, PROGRAM_MEMBER, inject)


def write_two_input_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    shape = list(TINY_INPUT_SHAPE)
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["sum"]), helper.make_node("Relu", ["sum"], ["out"])], "two_inputs",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name in ("x", "y")],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def write_float_tflite(path: Path) -> Path:
    """The tiny float model as a float ``.tflite``, written by edgeconv's own TFLite writer."""
    from edgeconv.backends.tflite.writer import write_tflite
    from edgeconv.frontend import load_model

    return Path(write_tflite(load_model(write_tiny_onnx(path.with_suffix(".onnx"))), path))


def write_nhwc_npz(path: Path, samples: int = 16) -> Path:
    """Random calibration samples for the tiny model in a ``.tflite``'s channels-last layout."""
    n, c, h, w = TINY_INPUT_SHAPE
    x = np.random.default_rng(0).standard_normal((samples, h, w, c)).astype(np.float32)
    np.savez(path, x=x)
    return path


def write_loop_torchscript(path: Path) -> Path:
    torch.manual_seed(0)
    torch.jit.script(LoopNet().eval()).save(str(path))
    return path
