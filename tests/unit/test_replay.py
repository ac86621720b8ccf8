"""Suffix replay: a sensitivity trial run from the float model's cached activations equals the
same trial graph run whole in the torch executor, on a graph with a residual skip, with and without
a pool that reads the graph input (that pool turns int8 in every trial, so every trial reruns the
graph from its input)."""

import numpy as np
import pytest
import torch
from torch import nn

from edgeconv.frontend import load_model
from edgeconv.passes.pipeline import prepare
from edgeconv.pipeline.selection import _quantize_one_factory
from edgeconv.quant.calibrate import calibrate
from edgeconv.select.sensitivity import measure
from edgeconv.torchexec import build_module
from edgeconv.torchexec.replay import FloatWalk, known_tensors, replay, suffix
from edgeconv.zoo.export import export_module

PRECISIONS = ("int8", "w4a4", "w2a2", "w1a1")
BATCH = 8


class SkipNet(nn.Module):
    """[avgpool(input)] -> conv-bn-relu -> [conv-bn-relu -> conv-bn] + skip -> relu -> gap -> linear."""

    def __init__(self, pool_input: bool):
        super().__init__()
        self.pool = nn.AvgPool2d(2) if pool_input else nn.Identity()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=(0, 1), bias=False), nn.BatchNorm2d(8))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        y = self.stem(self.pool(x))
        y = torch.relu(nn.functional.pad(self.body(y), (0, 0, 1, 1)) + y)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


def make(pool_input: bool, tmp_path):
    torch.manual_seed(0)
    model = SkipNet(pool_input).eval()
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
    path = export_module(model, tmp_path / "skip.pt2", (1, 3, 12, 12))
    graph = prepare(load_model(path))
    x = np.random.default_rng(0).normal(size=(16, 3, 12, 12)).astype(np.float32)
    return graph, x, _quantize_one_factory(calibrate(graph, x), "minmax")


@pytest.fixture(scope="module")
def conv_first(tmp_path_factory):
    return make(False, tmp_path_factory.mktemp("conv_first"))


@pytest.fixture(scope="module")
def input_pool(tmp_path_factory):
    return make(True, tmp_path_factory.mktemp("input_pool"))


@pytest.fixture(params=["conv_first", "input_pool"])
def setup(request):
    return request.getfixturevalue(request.param)


def whole(trial, x):
    module = build_module(trial).eval()
    with torch.no_grad():
        return torch.cat([module(torch.from_numpy(x[s:s + BATCH])) for s in range(0, len(x), BATCH)]).numpy()


def test_replayed_trial_equals_the_whole_trial_graph(setup):
    graph, x, quantize_one = setup
    layers = [n.name for n in graph.nodes if n.op.WEIGHTED]
    walk = FloatWalk(graph, x, torch.device("cpu"), BATCH)
    paused = []
    for layer in walk.pauses(layers):
        paused.append(layer)
        for precision in PRECISIONS:
            trial = quantize_one(graph, layer, precision)
            replayed = replay(graph, trial, walk.live, BATCH).numpy()
            np.testing.assert_array_equal(replayed, whole(trial, x), err_msg=f"{layer} {precision}")
    assert paused == layers
    np.testing.assert_array_equal(walk.output().numpy(), whole(graph, x))


def test_a_trial_runs_only_what_it_must(conv_first):
    graph, x, quantize_one = conv_first
    layers = [n.name for n in graph.nodes if n.op.WEIGHTED]
    walk = FloatWalk(graph, x, torch.device("cpu"), BATCH)
    pauses = walk.pauses(layers)
    assert next(pauses) == layers[0]
    assert next(pauses) == layers[1]
    trial = quantize_one(graph, layers[1], "int8")
    part = suffix(graph, trial, set(walk.live))
    ran = {n.name for n in part.nodes}
    # The stem conv's output is live (the skip reads it later) and unchanged: the trial starts there.
    stem_out = graph.node(layers[0]).output
    assert stem_out in known_tensors(graph, trial) and stem_out in part.inputs
    assert layers[0] not in ran and layers[1] in ran and layers[-1] in ran
    assert part.inputs == [stem_out]
    # The walk keeps only live activations (and the graph input): the stem's input is gone.
    assert set(walk.live) == {graph.inputs[0], stem_out}


def test_an_input_pool_makes_every_trial_run_from_the_input(input_pool):
    graph, x, quantize_one = input_pool
    assert not graph.nodes[0].op.WEIGHTED
    layers = [n.name for n in graph.nodes if n.op.WEIGHTED]
    walk = FloatWalk(graph, x, torch.device("cpu"), BATCH)
    for layer in walk.pauses(layers[-1:]):
        trial = quantize_one(graph, layer, "int8")
        assert trial.node(graph.nodes[0].name).precision == "int8"
        part = suffix(graph, trial, set(walk.live))
        assert part.inputs == graph.inputs and len(part.nodes) > len(graph.nodes)


def test_replayed_costs_equal_whole_graph_costs(setup, tmp_path):
    graph, x, quantize_one = setup
    precisions = ("fp32", "int8", "w2a2")
    replayed = measure(graph, x, precisions, quantize_one, cache_dir=tmp_path, batch_size=BATCH)
    wholly = measure(graph, x, precisions, quantize_one, run=whole, cache_dir=tmp_path)
    assert replayed.costs.keys() == wholly.costs.keys()
    for layer, costs in wholly.costs.items():
        for precision, cost in costs.items():
            assert replayed.cost(layer, precision) == pytest.approx(cost, rel=1e-9, abs=1e-12), (layer, precision)
    assert len(list(tmp_path.glob("*.json"))) == 2  # replayed and whole-graph results are cached apart
