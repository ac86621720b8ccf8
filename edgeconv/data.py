"""Calibration, fine-tuning and validation data: ``.npz`` files and image folders.

Two forms are read (DESIGN §3, ``--data`` / ``--val-data``):

* ``.npz`` with ``x``: float32 samples already in the model's input domain, in the source
  model's layout — ``(N, C, H, W)``, ``(N, C, L)`` or ``(N, F)`` for PyTorch/ONNX models, the
  ``.tflite``'s own channels-last layout (e.g. ``(N, H, W, C)``) for imported TFLite models —
  and optional ``y``: ``(N,)`` integer class labels. float64 and float16 are converted to float32;
  integer pixels are refused (the model's normalization is not known here). Other arrays in the
  file are ignored.
* an image folder in ImageFolder layout: one subfolder per class, classes numbered in sorted
  name order. Each image is converted to the model's channels (1: grayscale ``L``, 3: ``RGB``),
  resized to the model's H×W (bilinear), scaled to [0, 1] (``pixel / 255``), then
  ``(x - mean) / std`` per channel when ``mean``/``std`` are given.

Anything that cannot serve the model is refused with a :class:`~edgeconv.errors.UserError` that
names the file and the fault: not a zip, no ``x``, no samples, wrong shape, wrong dtype, NaN or
Inf, labels of the wrong length or type, labels outside the model's classes.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from .errors import UserError
from .ir.graph import Graph

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")

# Pillow mode that gives an image of C channels with 8 bits each.
PIL_MODE_BY_CHANNELS = {1: "L", 3: "RGB"}

CONVERTED_FLOAT_DTYPES = (np.float16, np.float64)


@dataclass
class Dataset:
    """Samples ``x`` (float32, source layout), labels ``y`` (int64, or None), and where they came from.

    ``class_names`` is the sorted list of class folders for an image folder, else None.
    """

    x: np.ndarray
    y: Optional[np.ndarray]
    source: str
    class_names: Optional[tuple] = None

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class InputSpec:
    """What the model takes: one sample's shape in its source layout, and its class count."""

    sample_shape: tuple
    channels_last: bool
    num_classes: Optional[int]

    @property
    def channels(self) -> int:
        return self.sample_shape[-1] if self.channels_last else self.sample_shape[0]

    @property
    def spatial(self) -> tuple:
        return self.sample_shape[:-1] if self.channels_last else self.sample_shape[1:]


def input_spec(graph_or_input_shape: Union[Graph, Sequence[int]], num_classes: Optional[int] = None) -> InputSpec:
    """The expected sample shape of a graph (or of an IR input shape ``(1, C, ...)``).

    The IR is channels-first; an imported TFLite model (``source_layout`` ``NHWC``) takes its
    data channels-last, so C moves to the end. A graph's class count, when not given, is the
    width of its 2-D output ``(1, K)``.
    """
    if isinstance(graph_or_input_shape, Graph):
        graph = graph_or_input_shape
        ir_shape = tuple(graph.tensors[graph.inputs[0]].shape)
        channels_last = graph.source_layout.endswith("C") and len(ir_shape) > 2
        if num_classes is None:
            output_shape = tuple(graph.tensors[graph.outputs[0]].shape)
            num_classes = output_shape[1] if len(output_shape) == 2 else None
    else:
        ir_shape = tuple(int(d) for d in graph_or_input_shape)
        channels_last = False
    sample = ir_shape[1:]
    if channels_last:
        sample = sample[1:] + sample[:1]
    return InputSpec(sample_shape=tuple(int(d) for d in sample), channels_last=channels_last, num_classes=num_classes)


def load_data(
    path: Union[str, Path],
    graph_or_input_shape: Union[Graph, Sequence[int]],
    num_classes: Optional[int] = None,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
) -> Dataset:
    """Read ``path`` (``.npz`` or image folder) for a model; refuse what the model cannot take."""
    path = Path(path)
    spec = input_spec(graph_or_input_shape, num_classes)
    if path.is_dir():
        dataset = _load_image_folder(path, spec, mean, std)
    elif path.is_file():
        dataset = _load_npz(path, spec)
    else:
        raise UserError(f"data {path} does not exist")
    _check_labels(path, dataset.y, len(dataset), spec.num_classes)
    return dataset


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _load_npz(path: Path, spec: InputSpec) -> Dataset:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise UserError(f"data {path} is a single .npy array, not an .npz file with an array 'x'")
        with loaded as archive:
            names = list(archive.files)
            if "x" not in names:
                held = ", ".join(names) if names else "no arrays"
                raise UserError(f"data {path} has no array 'x' (it holds {held})")
            x = archive["x"]
            y = archive["y"] if "y" in names else None
    except UserError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
        raise UserError(f"data {path} is not a readable .npz file (a zip of .npy arrays): {err}") from None
    x = _checked_samples(path, x, spec)
    return Dataset(x=x, y=_checked_label_array(path, y), source=str(path))


def _checked_samples(path: Path, x: np.ndarray, spec: InputSpec) -> np.ndarray:
    if x.dtype in CONVERTED_FLOAT_DTYPES:
        with np.errstate(over="ignore"):  # values beyond float32 become Inf, refused below
            x = x.astype(np.float32)
    if x.dtype != np.float32:
        raise UserError(
            f"data {path}: x has dtype {x.dtype}; edgeconv takes float32 samples already in the model's "
            f"input domain (scale and normalize them as for the model)"
        )
    if x.ndim == 0 or x.shape[0] == 0:
        raise UserError(f"data {path}: x holds no samples")
    if tuple(x.shape[1:]) != spec.sample_shape:
        raise UserError(
            f"data {path}: x has shape {_shape_text(x.shape)}, the model takes (N, "
            f"{_shape_text(spec.sample_shape)[1:]}"
        )
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.argwhere(bad.reshape(len(x), -1).any(axis=1))[0, 0])
        raise UserError(f"data {path}: x has {int(bad.sum())} NaN or Inf value(s), the first in sample {first}")
    return np.ascontiguousarray(x)


def _checked_label_array(path: Path, y: Optional[np.ndarray]) -> Optional[np.ndarray]:
    if y is None:
        return None
    if not np.issubdtype(y.dtype, np.integer):
        raise UserError(f"data {path}: y has dtype {y.dtype}; labels must be integers")
    if y.ndim != 1:
        raise UserError(f"data {path}: y has shape {_shape_text(y.shape)}; labels must be one integer per sample, (N,)")
    return y.astype(np.int64)


def _check_labels(path: Path, y: Optional[np.ndarray], count: int, num_classes: Optional[int]) -> None:
    if y is None:
        return
    if len(y) != count:
        raise UserError(f"data {path}: y has {len(y)} labels for {count} samples")
    if num_classes is None:
        return
    outside = (y < 0) | (y >= num_classes)
    if outside.any():
        value = int(y[outside][0])
        raise UserError(
            f"data {path}: label {value} is outside the model's {num_classes} classes (0..{num_classes - 1})"
        )


def _per_channel(values: Optional[Sequence[float]], channels: int, name: str) -> Optional[np.ndarray]:
    """``--mean``/``--std`` as one value for every channel or one per channel."""
    if values is None:
        return None
    array = np.atleast_1d(np.asarray(values, dtype=np.float32))
    if array.size == 1:
        array = np.repeat(array, channels)
    if array.size != channels:
        raise UserError(f"--{name} has {array.size} values; the model has {channels} input channels")
    if name == "std" and np.any(array <= 0):
        raise UserError("--std values must be positive")
    return array


def _values_text(values: Optional[Sequence[float]]) -> str:
    return "not given" if values is None else ",".join(f"{float(v):g}" for v in np.atleast_1d(values))


def _class_folders(path: Path) -> list:
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UserError(f"data {path} is a folder without class subfolders (ImageFolder layout: one folder per class)")
    return folders


def _image_files(folder: Path) -> list:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _read_image(file: Path, spec: InputSpec) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    height, width = spec.spatial
    try:
        with Image.open(file) as image:
            converted = image.convert(PIL_MODE_BY_CHANNELS[spec.channels])
            resized = converted.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(resized, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise UserError(f"image {file} cannot be read: {err}") from None
    pixels = pixels.reshape(height, width, spec.channels)  # HWC
    return pixels if spec.channels_last else pixels.transpose(2, 0, 1)


def _load_image_folder(path: Path, spec: InputSpec, mean, std) -> Dataset:
    if len(spec.sample_shape) != 3:
        raise UserError(
            f"data {path} is an image folder, but the model takes samples of shape {_shape_text(spec.sample_shape)}, not images"
        )
    if spec.channels not in PIL_MODE_BY_CHANNELS:
        raise UserError(f"data {path} is an image folder, but the model takes {spec.channels} channels (images give 1 or 3)")
    mean_c = _per_channel(mean, spec.channels, "mean")
    std_c = _per_channel(std, spec.channels, "std")
    folders = _class_folders(path)
    if spec.num_classes is not None and len(folders) > spec.num_classes:
        raise UserError(f"data {path} has {len(folders)} class folders, the model has {spec.num_classes} classes")
    samples, labels = [], []
    for label, folder in enumerate(folders):
        files = _image_files(folder)
        if not files:
            raise UserError(f"data {path}: class folder {folder.name} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for file in files:
            samples.append(_read_image(file, spec))
            labels.append(label)
    x = np.stack(samples).astype(np.float32)
    channel_axis = -1 if spec.channels_last else 1
    shape = [1] * x.ndim
    shape[channel_axis] = spec.channels
    with np.errstate(over="ignore", divide="ignore"):  # overflow becomes Inf, refused below
        if mean_c is not None:
            x = x - mean_c.reshape(shape)
        if std_c is not None:
            x = x / std_c.reshape(shape)
    if not np.isfinite(x).all():
        raise UserError(f"data {path}: --mean {_values_text(mean)} and --std {_values_text(std)} turn the pixels "
                        "into values beyond float32 (NaN or infinity)")
    return Dataset(
        x=np.ascontiguousarray(x, dtype=np.float32),
        y=np.asarray(labels, dtype=np.int64),
        source=str(path),
        class_names=tuple(folder.name for folder in folders),
    )
