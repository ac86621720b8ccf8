"""The float clean-up pipeline: no-ops removed, BatchNorms folded, activations fused."""

import numpy as np
import torch
from torch import nn

from edgeconv.frontend import load_model
from edgeconv.ir import Graph, Node, Tensor, format_graph
from edgeconv.ir import ops
from edgeconv.passes import merge_convs
from edgeconv.passes.pipeline import prepare
from edgeconv.reference import run_single


def assert_float_close(actual, reference):
    bound = 1e-4 * max(1.0, float(np.max(np.abs(reference))))
    assert float(np.max(np.abs(actual - reference))) <= bound


def _randomize_batchnorms(model):
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.5, 0.5, generator=generator)
                module.running_mean.uniform_(-0.5, 0.5, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)


def _add(graph, name, op, inputs):
    shape = op.infer([None if i is None else graph.tensors[i].shape for i in inputs])
    graph.add_tensor(Tensor(f"{name}.out", shape))
    graph.add_node(Node(name, op, inputs, f"{name}.out"))
    return f"{name}.out"


def _const(graph, name, value):
    return graph.add_tensor(Tensor(name, tuple(value.shape), data=value.detach().numpy())).name


def test_prepare_on_an_ir_graph_with_noops_between_conv_batchnorm_and_relu():
    torch.manual_seed(0)
    conv, bn = nn.Conv1d(3, 6, 3, padding=1), nn.BatchNorm1d(6)
    model = nn.Sequential(conv, bn, nn.ReLU6()).eval()
    _randomize_batchnorms(model)
    graph = Graph(name="noisy")
    graph.add_tensor(Tensor("x", (1, 3, 10)))
    graph.inputs = ["x"]
    conv_op = ops.Conv(stride=(1,), pads=(1, 1), dilation=(1,))
    y = _add(graph, "conv", conv_op, ["x", _const(graph, "w", conv.weight), _const(graph, "b", conv.bias)])
    y = _add(graph, "same_shape", ops.Reshape((6, 10)), [y])
    params = [_const(graph, f"bn.{k}", v) for k, v in
              (("gamma", bn.weight), ("beta", bn.bias), ("mean", bn.running_mean), ("var", bn.running_var))]
    y = _add(graph, "bn", ops.BatchNorm(eps=bn.eps), [y, *params])
    y = _add(graph, "open_clip", ops.Clip(None, None), [y])
    graph.outputs = [_add(graph, "relu6", ops.Clip(0.0, 6.0), [y])]
    before = format_graph(graph)

    prepared = prepare(graph)

    assert [(n.op_name, n.op.clamp) for n in prepared.nodes] == [("Conv", (0.0, 6.0))]
    assert prepared.outputs == ["relu6.out"]
    x = torch.randn(5, 3, 10) * 2
    with torch.no_grad():
        assert_float_close(run_single(prepared, x.numpy()), model(x).numpy())
    assert format_graph(graph) == before


def test_prepare_and_merge_a_torch_export_model(tmp_path):
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU6(),
        nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Dropout(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5), nn.BatchNorm1d(5),
    ).eval()
    _randomize_batchnorms(model)
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 9, 9),)), str(path))

    prepared = prepare(load_model(path))

    assert [n.op_name for n in prepared.nodes] == ["Conv", "Conv", "Conv", "GlobalAvgPool", "Reshape", "Linear"]
    assert [n.op.clamp for n in prepared.nodes if n.op_name == "Conv"] == [(0.0, None), (0.0, 6.0), (0.0, None)]
    x = torch.randn(4, 3, 9, 9)
    with torch.no_grad():
        assert_float_close(run_single(prepared, x.numpy()), model(x).numpy())

    chains = merge_convs.conv_chains(prepared)
    convs = [n.name for n in prepared.nodes if n.op_name == "Conv"]
    assert chains == [convs]
    merged = merge_convs.merge_segment(prepared, convs[1:])
    assert [n.op_name for n in merged.nodes][:2] == ["Conv", "Conv"]
    assert merged.nodes[1].merged_from == tuple(convs[1:]) and merged.nodes[1].op.groups == 1
