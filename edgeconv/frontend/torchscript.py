"""TorchScript frontend: a ``torch.jit.save`` archive (``.pt``) to the IR.

TorchScript carries no input shape, so one must be given. The scripted (or traced) module is put in
eval mode and converted to an ExportedProgram by torch's own TorchScript-to-export converter, run on
a zero input of that shape; the torch.export frontend does the rest. When the converter fails, the
message names the TorchScript node it stopped at and asks for a torch.export ``.pt2`` instead. Layers are named after their
weights (``layer1.0.conv1``) because TorchScript keeps no module stack per op.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Optional

import torch

from ..errors import UserError
from .common import exception_summary
from .torch_export import convert_program


def _stopped_at(exc: BaseException) -> str:
    """`` at <node kind> (<file>:<line>)`` for the TorchScript node torch's converter was converting
    when it raised (the innermost converter frame holding a graph node), or ``""``."""
    node, tb = None, exc.__traceback__
    while tb is not None:
        value = tb.tb_frame.f_locals.get("node")
        if isinstance(value, torch._C.Node):
            node = value
        tb = tb.tb_next
    if node is None:
        return ""
    match = re.search(r'File "([^"]+)", line (\d+)', str(node.sourceRange()))
    where = f" ({Path(match[1]).name}:{match[2]})" if match else ""
    return f" at {node.kind()}{where}"


def load_torchscript(path: Path, input_shape: Optional[tuple] = None):
    if input_shape is None:
        raise UserError(f"{path} is a TorchScript model, which does not record its input shape; "
                        f"pass --input-shape 1,C,H,W")
    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - an unreadable archive is the user's file
        raise UserError(f"{path}: cannot read the TorchScript archive ({exception_summary(exc)})") from None
    module.eval()
    example = (torch.zeros(tuple(input_shape)),)
    try:
        from torch._export.converter import TS2EPConverter

        with warnings.catch_warnings():  # it notes every unused BatchNorm counter it copies
            warnings.simplefilter("ignore", UserWarning)
            program = TS2EPConverter(module, example).convert()
    except Exception as exc:  # noqa: BLE001 - the converter refuses constructs it cannot express
        raise UserError(f"{path}: torch's TorchScript converter stopped{_stopped_at(exc)} for input shape "
                        f"{tuple(input_shape)} ({exception_summary(exc)}); export the model with torch.export "
                        f"instead: torch.export.save(torch.export.export(model.eval(), (example_input,)), "
                        f"'model.pt2')") from None
    return convert_program(program, Path(path).stem, str(path), tuple(input_shape))
