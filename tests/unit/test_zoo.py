"""The zoo: its data, seeded training, the cache of trained weights, exports and data files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeconv.errors import UserError
from edgeconv.frontend import load_model
from edgeconv.reference import run_single
from edgeconv.zoo import INPUT_SHAPE, MODELS, NUM_CLASSES, accuracy, digits_dataset, export, save_npz, train, trained
from edgeconv.zoo import training


def test_digits_dataset_split_and_range():
    x_train, y_train, x_val, y_val = digits_dataset()
    assert x_train.shape == (4000, 1, 28, 28) and x_val.shape == (1000, 1, 28, 28)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert 0.0 == min(x_train.min(), x_val.min()) and max(x_train.max(), x_val.max()) == 1.0
    assert set(np.unique(y_val)) == set(range(NUM_CLASSES))
    again = digits_dataset()
    np.testing.assert_array_equal(again[2], x_val)  # the split is fixed


def test_every_model_maps_digits_to_ten_logits():
    for name, factory in MODELS.items():
        torch.manual_seed(0)
        with torch.no_grad():
            assert factory().eval()(torch.zeros(3, *INPUT_SHAPE[1:])).shape == (3, NUM_CLASSES), name


def test_training_is_deterministic_for_a_seed():
    first = train("tinycnn", epochs=1, seed=3).state_dict()
    second = train("tinycnn", epochs=1, seed=3).state_dict()
    for key in first:
        torch.testing.assert_close(first[key], second[key], rtol=0, atol=0)


def test_trained_weights_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECONV_ZOO_CACHE", str(tmp_path))
    model = trained("tinycnn", epochs=1, seed=5)
    files = list(tmp_path.glob("tinycnn-*.pt"))
    assert len(files) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("trained() retrained although the cache holds the weights")

    monkeypatch.setattr(training, "train", no_training)
    again = trained("tinycnn", epochs=1, seed=5)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[key], value, rtol=0, atol=0)


def test_unknown_model_is_a_user_error():
    with pytest.raises(UserError, match="unknown zoo model"):
        trained("alexnet")


def test_save_npz_writes_what_data_files_hold(tmp_path):
    x = np.random.default_rng(0).random((4, 1, 28, 28))
    path = save_npz(tmp_path / "calib.npz", x, np.arange(4))
    with np.load(path) as data:
        assert data["x"].dtype == np.float32 and data["y"].dtype == np.int64
        np.testing.assert_array_equal(data["x"], x.astype(np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_trained_model_reaches_95_percent(name):
    _, _, x_val, y_val = digits_dataset()
    assert accuracy(trained(name), x_val, y_val) >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pt2", ".onnx", ".pt"])
def test_exported_trained_model_keeps_its_accuracy(suffix, tmp_path):
    _, _, x_val, y_val = digits_dataset()
    model = trained("tinycnn")
    graph = load_model(export("tinycnn", tmp_path / f"tinycnn{suffix}"), input_shape=INPUT_SHAPE)
    predictions = run_single(graph, x_val).argmax(1)
    assert float((predictions == y_val).mean()) == accuracy(model, x_val, y_val)


def test_compressed_zoo_graphs_are_cached_per_precision(tmp_path, monkeypatch):
    from edgeconv.backends.irfile import save_graph
    from edgeconv.zoo import compressed_models as zoo_compressed

    assert zoo_compressed.compressed("tinycnn", "fp32") is zoo_compressed.float_graph("tinycnn")
    paths = {p: zoo_compressed.cache_path("tinycnn", p) for p in zoo_compressed.FINETUNE_EPOCHS}
    assert len(set(paths.values())) == len(paths) and all(p.name.startswith("tinycnn-") for p in paths.values())
    path = tmp_path / "tinycnn-int8.ir.npz"
    monkeypatch.setattr(zoo_compressed, "cache_path", lambda name, precision: path)
    first = zoo_compressed.compressed("tinycnn", "int8")
    assert path.is_file()
    path.write_bytes(b"damaged")  # a damaged entry is recomputed and rewritten
    again = zoo_compressed.compressed("tinycnn", "int8")
    cached = zoo_compressed.compressed("tinycnn", "int8")
    for name, tensor in first.tensors.items():
        if tensor.is_constant:
            np.testing.assert_array_equal(again.tensors[name].data, tensor.data)
            np.testing.assert_array_equal(cached.tensors[name].data, tensor.data)
    save_graph(first, tmp_path / "check.ir.npz")
    assert (tmp_path / "check.ir.npz").read_bytes() == path.read_bytes()
