"""edgeconv.data: .npz and image-folder data, read for a model and refused with a clear message."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeconv.data import input_spec, load_data
from edgeconv.errors import UserError
from edgeconv.ir.graph import Graph
from edgeconv.ir.tensor import Tensor

NCHW = (1, 3, 6, 5)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def _graph(input_shape, output_shape, layout):
    """A graph with only the I/O tensors load_data reads (it never runs the model)."""
    graph = Graph(name="io", source_layout=layout)
    graph.add_tensor(Tensor("input", input_shape))
    graph.add_tensor(Tensor("output", output_shape))
    graph.inputs, graph.outputs = ["input"], ["output"]
    return graph


# ---- .npz ------------------------------------------------------------------------------------


@pytest.mark.parametrize("ir_shape", [(1, 3, 6, 5), (1, 4, 9), (1, 7)])
def test_npz_float32_in_every_rank_is_read_unchanged(tmp_path, ir_shape):
    x = np.random.default_rng(1).standard_normal((5, *ir_shape[1:])).astype(np.float32)
    y = np.arange(5, dtype=np.int32)
    data = load_data(_npz(tmp_path / "d.npz", x=x, y=y), ir_shape, num_classes=10)
    np.testing.assert_array_equal(data.x, x)
    assert data.x.dtype == np.float32
    np.testing.assert_array_equal(data.y, y)
    assert data.y.dtype == np.int64
    assert data.source == str(tmp_path / "d.npz")
    assert len(data) == 5


def test_npz_without_labels_and_float64_converted(tmp_path):
    x = np.linspace(-1, 1, 2 * 3 * 6 * 5).reshape(2, 3, 6, 5)
    data = load_data(_npz(tmp_path / "d.npz", x=x), NCHW)
    assert data.y is None
    np.testing.assert_array_equal(data.x, x.astype(np.float32))


def test_channels_last_graph_takes_nhwc_samples(tmp_path):
    graph = _graph((1, 3, 6, 5), (1, 4), "NHWC")
    spec = input_spec(graph)
    assert spec.sample_shape == (6, 5, 3) and spec.num_classes == 4
    x = np.zeros((2, 6, 5, 3), np.float32)
    assert load_data(_npz(tmp_path / "d.npz", x=x, y=np.array([0, 3])), graph).x.shape == (2, 6, 5, 3)
    with pytest.raises(UserError, match=r"shape \(2, 3, 6, 5\), the model takes \(N, 6, 5, 3\)"):
        load_data(_npz(tmp_path / "e.npz", x=np.zeros((2, 3, 6, 5), np.float32)), graph)


def test_graph_output_width_gives_the_class_count(tmp_path):
    graph = _graph((1, 3, 6, 5), (1, 4), "NCHW")
    path = _npz(tmp_path / "d.npz", x=np.zeros((2, 3, 6, 5), np.float32), y=np.array([0, 4]))
    with pytest.raises(UserError, match="label 4 is outside the model's 4 classes"):
        load_data(path, graph)


REFUSALS = {
    "missing x": (dict(images=np.zeros((2, 3, 6, 5), np.float32)), r"has no array 'x' \(it holds images\)"),
    "empty": (dict(x=np.zeros((0, 3, 6, 5), np.float32)), "x holds no samples"),
    "wrong shape": (dict(x=np.zeros((2, 3, 5, 6), np.float32)), r"x has shape \(2, 3, 5, 6\), the model takes \(N, 3, 6, 5\)"),
    "wrong rank": (dict(x=np.zeros((2, 90), np.float32)), r"x has shape \(2, 90\)"),
    "integer pixels": (dict(x=np.zeros((2, 3, 6, 5), np.uint8)), "x has dtype uint8; edgeconv takes float32"),
    "NaN": (dict(x=np.where(np.arange(180).reshape(2, 3, 6, 5) == 100, np.nan, 0).astype(np.float32)),
            r"1 NaN or Inf value\(s\), the first in sample 1"),
    "Inf": (dict(x=np.full((2, 3, 6, 5), np.inf, np.float32)), r"180 NaN or Inf value\(s\), the first in sample 0"),
    "float64 overflowing float32": (dict(x=np.full((1, 3, 6, 5), 1e300)), "NaN or Inf"),
    "labels outside classes": (dict(x=np.zeros((2, 3, 6, 5), np.float32), y=np.array([3, 10])),
                               r"label 10 is outside the model's 10 classes \(0..9\)"),
    "negative label": (dict(x=np.zeros((2, 3, 6, 5), np.float32), y=np.array([-1, 0])), "label -1 is outside"),
    "label count": (dict(x=np.zeros((3, 3, 6, 5), np.float32), y=np.array([1, 2])), "y has 2 labels for 3 samples"),
    "float labels": (dict(x=np.zeros((2, 3, 6, 5), np.float32), y=np.array([1.0, 2.0])), "labels must be integers"),
    "2-D labels": (dict(x=np.zeros((2, 3, 6, 5), np.float32), y=np.zeros((2, 10), np.int64)), r"one integer per sample"),
}


@pytest.mark.parametrize("fault", sorted(REFUSALS))
def test_npz_refusals_name_the_file_and_fault(tmp_path, fault):
    arrays, message = REFUSALS[fault]
    path = _npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserError, match=message) as caught:
        load_data(path, NCHW, num_classes=10)
    assert str(path) in str(caught.value)


def test_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "calib.npz"
    path.write_text("these are not arrays\n")
    with pytest.raises(UserError, match=r"calib.npz is not a readable .npz file"):
        load_data(path, NCHW)


def test_truncated_zip_is_refused(tmp_path):
    good = _npz(tmp_path / "good.npz", x=np.zeros((50, 3, 6, 5), np.float32))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(UserError, match="is not a readable .npz file"):
        load_data(cut, NCHW)


def test_single_npy_and_pickled_objects_are_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 6, 5), np.float32))
    with pytest.raises(UserError, match="single .npy array"):
        load_data(tmp_path / "x.npy", NCHW)
    _npz(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(UserError, match="not a readable .npz file"):
        load_data(tmp_path / "obj.npz", NCHW)


def test_missing_path_is_refused(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_data(tmp_path / "nothing.npz", NCHW)


# ---- image folders ---------------------------------------------------------------------------


def _image(path, pixels):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def test_image_folder_classes_sorted_converted_resized_scaled(tmp_path):
    root = tmp_path / "images"
    red = np.zeros((12, 10, 3), np.uint8)
    red[..., 0] = 255
    _image(root / "b_cat" / "1.png", red)
    _image(root / "a_dog" / "2.png", np.full((3, 4, 3), 51, np.uint8))
    _image(root / "a_dog" / "1.jpg", np.full((8, 8, 3), 0, np.uint8))
    (root / "a_dog" / "notes.txt").write_text("ignored: not an image")

    data = load_data(root, (1, 3, 6, 5), num_classes=10)
    assert data.class_names == ("a_dog", "b_cat")
    np.testing.assert_array_equal(data.y, [0, 0, 1])
    assert data.x.shape == (3, 3, 6, 5) and data.x.dtype == np.float32
    np.testing.assert_array_equal(data.x[1], np.full((3, 6, 5), np.float32(51) / np.float32(255)))
    np.testing.assert_array_equal(data.x[2, 0], np.ones((6, 5), np.float32))
    np.testing.assert_array_equal(data.x[2, 1:], np.zeros((2, 6, 5), np.float32))


def test_image_folder_grayscale_mean_std_and_channels_last(tmp_path):
    root = tmp_path / "images"
    _image(root / "zero" / "a.png", np.full((4, 4, 3), 255, np.uint8))
    data = load_data(root, (1, 1, 4, 4), mean=[0.5], std=[0.25])
    np.testing.assert_array_equal(data.x, np.full((1, 1, 4, 4), 2.0, np.float32))  # (1 - 0.5) / 0.25

    graph = _graph((1, 3, 4, 4), (1, 2), "NHWC")
    assert load_data(root, graph, mean=[0, 0.5, 1], std=2).x.shape == (1, 4, 4, 3)


@pytest.mark.parametrize(
    "layout, message",
    [
        ("flat", "without class subfolders"),
        ("empty class", "class folder empty holds no images"),
        ("too many classes", "has 3 class folders, the model has 2 classes"),
        ("broken image", r"image .*broken.png cannot be read"),
    ],
)
def test_image_folder_refusals(tmp_path, layout, message):
    root = tmp_path / "images"
    pixels = np.zeros((4, 4, 3), np.uint8)
    if layout == "flat":
        _image(root / "a.png", pixels)
    elif layout == "empty class":
        _image(root / "full" / "a.png", pixels)
        (root / "empty").mkdir()
    elif layout == "too many classes":
        for name in ("a", "b", "c"):
            _image(root / name / "x.png", pixels)
    else:
        (root / "only").mkdir(parents=True)
        (root / "only" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(UserError, match=message):
        load_data(root, (1, 3, 4, 4), num_classes=2)


def test_image_folder_needs_an_image_model(tmp_path):
    _image(tmp_path / "images" / "a" / "x.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(UserError, match="not images"):
        load_data(tmp_path / "images", (1, 3, 16))
    with pytest.raises(UserError, match="takes 2 channels"):
        load_data(tmp_path / "images", (1, 2, 4, 4))
    with pytest.raises(UserError, match="--mean has 2 values; the model has 3 input channels"):
        load_data(tmp_path / "images", (1, 3, 4, 4), mean=[0.1, 0.2])


def test_mean_and_std_that_overflow_float32_are_named(tmp_path):
    _image(tmp_path / "images" / "a" / "x.png", np.full((4, 4, 3), 255, np.uint8))
    with pytest.raises(UserError, match=r"--mean not given and --std 1e-45 turn the pixels into values beyond float32"):
        load_data(tmp_path / "images", (1, 1, 4, 4), std=[1e-45])
    with pytest.raises(UserError, match=r"--mean nan and --std not given"):
        load_data(tmp_path / "images", (1, 1, 4, 4), mean=[float("nan")])
