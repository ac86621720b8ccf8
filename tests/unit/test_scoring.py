"""The report's accuracy in batches: the compressed model's outputs from its C host build equal the
numpy reference executor's, run one sample at a time, byte for byte; the accuracy is the same
whichever of the two scores it, and the float model's torch-batched top-1 is the reference's."""

import numpy as np
import pytest
import torch

from edgeconv.backends.c import generate
from edgeconv.frontend import load_model
from edgeconv.passes.pipeline import prepare
from edgeconv.pipeline import scoring
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.reference import run_single
from edgeconv.verify.reference import top1
from edgeconv.zoo import models
from edgeconv.zoo.export import export_module

from tests.conftest import require_tool


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory):
    """The zoo's ResNet-8 layout (seeded, untrained; BatchNorm statistics from the data) and digits-shaped data."""
    torch.manual_seed(0)
    module = models.ResNet8()
    x = np.random.default_rng(0).random((40, *models.INPUT_SHAPE[1:]), dtype=np.float32)
    module.train()
    with torch.no_grad():
        module(torch.from_numpy(x))
    path = export_module(module.eval(), tmp_path_factory.mktemp("zoo") / "resnet8.pt2")
    graph = prepare(load_model(path))
    labels = top1(run_single(graph, x))
    labels[::3] = (labels[::3] + 1) % 10  # a third wrong, so the accuracy is not trivially 1
    return graph, x, labels


def test_c_host_outputs_equal_the_reference_per_sample(zoo_model, tmp_path, monkeypatch):
    require_tool("gcc")
    graph, x, labels = zoo_model
    compressed = quantize_graph(graph, x, "int8")
    generate(compressed, tmp_path / "c")
    by_reference = scoring.reference_accuracy(compressed, x, labels)
    seen = []

    def c_host_outputs(*args):  # the real build and run, its outputs kept for the check below
        seen.append(real_c_host_outputs(*args))
        return seen[-1]

    real_c_host_outputs = scoring.c_host_outputs
    monkeypatch.setattr(scoring, "c_host_outputs", c_host_outputs)
    monkeypatch.setattr(scoring, "C_BATCH", 16)  # several runner calls, the last one short
    monkeypatch.setattr(scoring, "REFERENCE_MACS", 0)  # route this small job to the C host build
    assert scoring.compressed_accuracy(compressed, x, labels, tmp_path / "c") == by_reference
    per_sample = np.concatenate([run_single(compressed, x[i:i + 1]) for i in range(len(x))])
    assert len(seen) == 1 and seen[0].dtype == per_sample.dtype and seen[0].shape == per_sample.shape
    np.testing.assert_array_equal(seen[0], per_sample)
    assert by_reference == np.mean(top1(per_sample) == labels)
    monkeypatch.setattr(scoring, "REFERENCE_MACS", 1 << 62)  # a job this size stays on the reference
    assert scoring.compressed_accuracy(compressed, x, labels, tmp_path / "c") == by_reference
    assert len(seen) == 1


def test_float_accuracy_in_torch_batches_is_the_references(zoo_model):
    graph, x, labels = zoo_model
    expected = float(np.mean(top1(run_single(graph, x)) == labels))
    assert 0.5 < expected < 1.0
    assert scoring.float_accuracy(graph, x, labels) == expected
