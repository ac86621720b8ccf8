"""Checking and parsing of the values users give (DESIGN §3), shared by the CLI and the Python API.

Each function takes the user's text (or an already-typed value from Python) and returns a typed
value, or raises :class:`~edgeconv.errors.UserError` with one sentence naming the option and the
value. The CLI calls them while parsing, so bad values are refused before any work starts.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Optional, Sequence, Union

from .errors import UserError

EMIT_KINDS = ("onnx", "tflite", "c")
CALIBRATION_METHODS = ("minmax", "percentile", "mse")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_PRECISIONS_WITH_BUDGET = ("fp32", "int8", "w4a4", "w2a2", "w1a1")
DEFAULT_PRECISIONS_WITHOUT_BUDGET = ("int8",)

# Largest tensor edgeconv works on, per sample: the model's input and every activation, whether
# the shape comes from --input-shape or from the model file. 2**26 elements is 256 MiB as
# float32; verification holds 32 such samples at once.
MAX_TENSOR_ELEMENTS = 1 << 26
# Seeds of every random choice: what numpy's and torch's generators both take as one 32-bit word.
MAX_SEED = (1 << 32) - 1

_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SSH_RUNNER = re.compile(r"^ssh://(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d+))?/?$")

TextOrValues = Union[str, Sequence]


def _items(value: TextOrValues) -> list:
    """``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]`` (blank items dropped)."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    return [str(part).strip() for part in parts if str(part).strip()]


def precisions(value: TextOrValues) -> tuple:
    """``--precisions``: a comma list of fp32, int8, wKaM (K 1..7, M 1..8), w1a1 -> canonical names."""
    # Imported here: the quant package loads torch, which commands like `targets` do not need.
    from .quant.precision import parse_precision

    names = []
    for item in _items(value):
        name = parse_precision(item).name
        if name not in names:
            names.append(name)
    if not names:
        raise UserError("--precisions is empty: give one or more of fp32, int8, wKaM, w1a1")
    return tuple(names)


def default_precisions(latency_ms: Optional[float]) -> tuple:
    """``int8`` alone without a latency budget; every kind the selector knows with one."""
    return DEFAULT_PRECISIONS_WITH_BUDGET if latency_ms is not None else DEFAULT_PRECISIONS_WITHOUT_BUDGET


def input_shape(value: Union[str, Sequence[int]]) -> tuple:
    """``--input-shape``: ``1,C,H,W``, ``1,C,L`` or ``1,F``, positive integers, batch 1."""
    items = _items(value)
    try:
        dims = tuple(int(item) for item in items)
    except ValueError:
        raise UserError(f"--input-shape {value!r} is not a list of integers such as 1,3,32,32") from None
    if not 2 <= len(dims) <= 4:
        raise UserError(f"--input-shape {value!r} must have 2 to 4 dimensions: 1,F or 1,C,L or 1,C,H,W")
    if any(d <= 0 for d in dims):
        raise UserError(f"--input-shape {value!r} has a dimension that is not positive")
    if dims[0] != 1:
        raise UserError(f"--input-shape {value!r} must start with batch 1")
    check_tensor_size(dims, f"--input-shape {value!r}")
    return dims


def check_tensor_size(shape: Sequence[int], what: str) -> None:
    """A UserError naming ``what`` when a tensor of ``shape`` is over :data:`MAX_TENSOR_ELEMENTS`."""
    elements = math.prod(int(d) for d in shape)
    if elements > MAX_TENSOR_ELEMENTS:
        raise UserError(f"{what} has {elements:,} elements per sample; edgeconv takes tensors of at most "
                        f"{MAX_TENSOR_ELEMENTS:,} elements ({MAX_TENSOR_ELEMENTS * 4 // 2**20} MiB as float32)")


def check_model_tensor_sizes(graph, source: Union[str, Path]) -> None:
    """Every input and activation of ``graph`` (read from ``source``) within :data:`MAX_TENSOR_ELEMENTS`."""
    for tensor in graph.tensors.values():
        if not tensor.is_constant:
            check_tensor_size(tensor.shape, f"{source}: tensor {tensor.name!r} of shape {tuple(tensor.shape)}")


def float_list(option: str, value: Optional[TextOrValues]) -> Optional[tuple]:
    """``--mean`` / ``--std``: one number, or one per channel separated by commas."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        value = [value]
    try:
        numbers = tuple(float(item) for item in _items(value))
    except (TypeError, ValueError):
        raise UserError(f"{option} {value!r} is not a number or a comma list of numbers") from None
    if not numbers:
        raise UserError(f"{option} is empty")
    if not all(math.isfinite(n) for n in numbers):
        raise UserError(f"{option} {value!r} holds a value that is not a finite number (NaN or infinity)")
    if option == "--std" and any(n <= 0 for n in numbers):
        raise UserError(f"{option} {value!r} must be positive")
    return numbers


def positive(option: str, value: Optional[Union[str, float]]) -> Optional[float]:
    """A finite, strictly positive number (``--latency-ms``, ``--memory-kb``, ``--lr``) or None."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{option} {value!r} is not a number") from None
    if not (math.isfinite(number) and number > 0):
        raise UserError(f"{option} must be greater than 0 and finite, got {value}")
    return number


def seed(value: Union[str, int]) -> int:
    """``--seed``: an integer from 0 to :data:`MAX_SEED`."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise UserError(f"--seed {value!r} is not an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UserError(f"--seed {value!r} is not an integer") from None
    if not 0 <= number <= MAX_SEED:
        raise UserError(f"--seed {value} is outside 0..{MAX_SEED}")
    return number


def positive_int(option: str, value: Optional[int]) -> Optional[int]:
    if value is not None and value <= 0:
        raise UserError(f"{option} must be a positive integer, got {value}")
    return value


def non_negative_int(option: str, value: Optional[int]) -> Optional[int]:
    if value is not None and value < 0:
        raise UserError(f"{option} must be 0 or more, got {value}")
    return value


def emit(value: Optional[TextOrValues]) -> tuple:
    """``--emit``: a comma list of onnx, tflite, c (default: all three)."""
    if value is None:
        return EMIT_KINDS
    kinds = _items(value)
    unknown = [k for k in kinds if k not in EMIT_KINDS]
    if unknown or not kinds:
        raise UserError(f"--emit {value!r}: choose among {', '.join(EMIT_KINDS)}")
    return tuple(k for k in EMIT_KINDS if k in kinds)


def c_prefix(value: str) -> str:
    """``--c-prefix``: the start of every C symbol of the model, a C identifier."""
    if not _C_IDENTIFIER.match(value):
        raise UserError(f"--c-prefix {value!r} is not a C identifier (letters, digits, underscores)")
    return value


def calibration(value: str) -> str:
    if value not in CALIBRATION_METHODS:
        raise UserError(f"--calibration {value!r}: choose among {', '.join(CALIBRATION_METHODS)}")
    return value


def device(value: str) -> str:
    """``--device auto|cpu|cuda``: the torch device name the executor runs on (``auto`` resolved)."""
    if value not in DEVICES:
        raise UserError(f"--device {value!r}: choose among {', '.join(DEVICES)}")
    from .torchexec.device import resolve_device

    return str(resolve_device(value))


def runner(value: Optional[str]) -> Optional[str]:
    """``--runner``: ``local``, ``qemu`` or ``ssh://[user@]host[:port]`` (None: the target's default)."""
    if value is None or value in ("local", "qemu"):
        return value
    match = _SSH_RUNNER.match(value)
    if match is None:
        raise UserError(f"--runner {value!r}: use local, qemu or ssh://user@host[:port]")
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise UserError(f"--runner {value!r}: port {port} is outside 1..65535")
    return value


def readable_file(option: str, value: Union[str, Path]) -> Path:
    """A file that exists and can be read."""
    path = Path(value)
    if not path.exists():
        raise UserError(f"{option} {path} does not exist")
    if not path.is_file():
        raise UserError(f"{option} {path} is not a file")
    if not os.access(path, os.R_OK):
        raise UserError(f"{option} {path} cannot be read (permission denied)")
    return path


def data_path(option: str, value: Optional[Union[str, Path]]) -> Optional[Path]:
    """``--data`` / ``--val-data``: an existing ``.npz`` file or image folder (read later)."""
    if value is None:
        return None
    path = Path(value)
    if not path.exists():
        raise UserError(f"{option} {path} does not exist")
    if not os.access(path, os.R_OK):
        raise UserError(f"{option} {path} cannot be read (permission denied)")
    return path
