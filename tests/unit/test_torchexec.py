import numpy as np
import pytest
import torch

from edgeconv.frontend.torch_export import convert_module
from edgeconv.ir import Graph, Node, Tensor, infer_shapes, ops, verify
from edgeconv.passes.pipeline import prepare
from edgeconv.quant.quantize_graph import quantize_graph
from edgeconv.quant.single_rounding import with_single_rounding
from edgeconv.reference import executor
from edgeconv.torchexec import build_module, run_numpy
from edgeconv.torchexec.fake_quant import sign_ste
from edgeconv.zoo import models

RNG = np.random.default_rng(11)


def float_tolerance(reference):
    return 1e-4 * max(1.0, float(np.abs(reference).max()))


def graph_of(shape, layers, rng=RNG):
    """A chain graph: ``layers`` is a list of (op, constant shapes, extra activation input or None)."""
    g = Graph(name="t")
    g.add_tensor(Tensor("x", shape))
    g.inputs, last = ["x"], "x"
    for i, (op, consts, extra) in enumerate(layers):
        names = []
        for j, cshape in enumerate(consts):
            names.append(f"c{i}_{j}")
            g.add_tensor(Tensor(names[-1], cshape, data=rng.normal(0, 0.5, cshape).astype(np.float32)))
        g.add_tensor(Tensor(f"t{i}", (1,)))
        inputs = [last] + ([extra] if extra else []) + names
        g.add_node(Node(f"n{i}", op, inputs, f"t{i}"))
        last = f"t{i}"
    g.outputs = [last]
    return verify(infer_shapes(g))


FLOAT_CASES = {
    "conv2d-stride-dilation-asym-pads": ((2, 3, 11, 9), [
        (ops.Conv(stride=(2, 1), pads=(1, 0, 2, 1), dilation=(1, 2), clamp=(-0.5, 0.7)), [(4, 3, 3, 3), (4,)], None),
        (ops.Conv(groups=4, pads=(1, 1, 1, 1)), [(4, 1, 3, 3)], None),
        (ops.Hardswish(), [], None)]),
    "conv1d-pools": ((2, 3, 17), [
        (ops.Conv(stride=(1,), pads=(2, 1), dilation=(2,)), [(5, 3, 3), (5,)], None),
        (ops.MaxPool(kernel=(3,), stride=(2,), pads=(1, 1), dilation=(1,), ceil_mode=True), [], None),
        (ops.AvgPool(kernel=(2,), stride=(2,), pads=(1, 0), count_include_pad=False, ceil_mode=True), [], None),
        (ops.LeakyRelu(alpha=0.2), [], None)]),
    "pools-2d": ((2, 3, 9, 10), [
        (ops.MaxPool(kernel=(3, 2), stride=(2, 2), pads=(1, 1, 1, 1), ceil_mode=True), [], None),
        (ops.AvgPool(kernel=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1), count_include_pad=True), [], None),
        (ops.SiLU(), [], None), (ops.Pad(pads=(1, 2, 0, 1), value=0.5), [], None),
        (ops.GlobalAvgPool(keepdims=True), [], None), (ops.Sigmoid(), [], None)]),
    "elementwise-head": ((2, 4, 5, 5), [
        (ops.Hardsigmoid(), [], None), (ops.Mul(), [], "x"), (ops.Add(clamp=(0.0, None)), [], "x"),
        (ops.Concat(axis=1), [], "x"), (ops.Clip(lo=-1.0, hi=1.0), [], None), (ops.Sign(), [], None),
        (ops.Reshape(shape=(-1,)), [], None), (ops.Linear(), [(6, 200), (6,)], None),
        (ops.Softmax(axis=1, beta=0.5), [], None)]),
}


@pytest.mark.parametrize("case", sorted(FLOAT_CASES))
def test_float_module_equals_the_reference_executor(case):
    shape, layers = FLOAT_CASES[case]
    g = graph_of(shape, layers)
    x = RNG.normal(size=shape).astype(np.float32)
    ref = executor.run_single(g, x)
    out = run_numpy(g, x)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= float_tolerance(ref)


@pytest.fixture(scope="module")
def zoo_graphs():
    torch.manual_seed(0)
    graphs = {}
    for name in ("resnet8", "mobilenetv2", "binarynet"):
        module = models.MODELS[name]().eval()
        graphs[name] = prepare(convert_module(module, models.INPUT_SHAPE, name, name))
    return graphs


@pytest.fixture(scope="module")
def digits():
    return np.random.default_rng(4).uniform(0, 1, (96, 1, 28, 28)).astype(np.float32)


def test_float_module_equals_the_reference_on_zoo_graphs(zoo_graphs, digits):
    for graph in zoo_graphs.values():
        ref = executor.run_single(graph, digits[:16])
        assert np.abs(run_numpy(graph, digits[:16]) - ref).max() <= float_tolerance(ref)


@pytest.mark.parametrize("name, precision", [("resnet8", "int8"), ("mobilenetv2", "int8"), ("resnet8", "w4a4"),
                                             ("binarynet", "w2a2"), ("binarynet", "w1a1")])
def test_fake_quant_module_agrees_with_the_integer_reference(zoo_graphs, digits, name, precision):
    """Same argmax on >= 99% of samples; output codes within one step on >= 99% of values.

    The residual differences are TFLite's fixed-point Add/Mul/Hardswish/Hardsigmoid and rounding
    ties met in float32 (see ``torchexec/fake_quant.py``).
    """
    q = quantize_graph(zoo_graphs[name], digits, precision)
    ref = executor.run_single(q, digits)
    out = run_numpy(q, digits)
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.99
    out_q = q.tensors[q.producer(q.outputs[0]).inputs[0]].quant
    steps = np.abs(out - ref) / out_q.scale[0]
    assert (steps <= 1.001).mean() >= 0.99


def test_fake_quant_of_conv_chain_is_exact_in_float64():
    """On its own seeded draws, whatever ran before: float64 accumulation can still land an int8
    conv's value on the other side of a rounding tie (``torchexec/fake_quant.py``), on about one
    draw in fifteen."""
    rng = np.random.default_rng(0)
    g = graph_of((1, 3, 8, 8), [
        (ops.Conv(pads=(1, 1, 1, 1), clamp=(0.0, None)), [(6, 3, 3, 3), (6,)], None),
        (ops.MaxPool(), [], None),
        (ops.Conv(pads=(1, 1, 1, 1), clamp=(0.0, 6.0)), [(8, 6, 3, 3), (8,)], None),
        (ops.GlobalAvgPool(keepdims=False), [], None),
        (ops.Linear(), [(4, 8), (4,)], None)], rng)
    x = rng.uniform(0, 1, (128, 3, 8, 8)).astype(np.float32)
    for precision in ("int8", "w4a4", "w2a2"):
        q = quantize_graph(g, x, {"n0": "int8", "n2": precision, "n4": "int8"})
        for stored in (q, with_single_rounding(q)):  # as quantized, and with weight steps
            ref = executor.run_single(stored, x)
            np.testing.assert_array_equal(run_numpy(stored, x, dtype=torch.float64).astype(np.float32), ref)


@pytest.mark.parametrize("pool", [
    ops.AvgPool(kernel=(2, 2), stride=(2, 2)),  # even windows: ties rounded half away on the raw codes
    ops.AvgPool(kernel=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1), count_include_pad=True),
    ops.AvgPool(kernel=(2, 3), stride=(1, 2), pads=(0, 1, 1, 0), count_include_pad=False, ceil_mode=True)])
def test_fake_quant_average_pool_is_exact_in_float64(pool):
    rng = np.random.default_rng(1)
    g = graph_of((1, 3, 9, 8), [(ops.Conv(pads=(1, 1, 1, 1)), [(4, 3, 3, 3), (4,)], None), (pool, [], None)], rng)
    x = rng.uniform(-1, 1, (64, 3, 9, 8)).astype(np.float32)
    q = quantize_graph(g, x, "int8")
    ref = executor.run_single(q, x)
    np.testing.assert_array_equal(run_numpy(q, x, dtype=torch.float64).astype(np.float32), ref)


def test_straight_through_gradients_reach_every_weight(zoo_graphs, digits):
    q = quantize_graph(zoo_graphs["binarynet"], digits, "w1a1")
    module = build_module(q)
    loss = module(torch.from_numpy(digits[:8])).logsumexp(1).sum()
    loss.backward()
    for name, param in module.weights.items():
        assert param.grad is not None and torch.any(param.grad != 0), name


def test_sign_ste_passes_gradient_only_inside_unit_range():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5], requires_grad=True)
    y = sign_ste(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), [-1, -1, 1, 1, 1])
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 0])


def test_latent_weights_start_from_the_given_float_weights(zoo_graphs, digits):
    g = zoo_graphs["resnet8"]
    q = quantize_graph(g, digits, "int8")
    latent = {n.name: (g.tensors[n.inputs[1]].data, g.tensors[n.inputs[2]].data if len(n.inputs) > 2 and n.inputs[2] else None)
              for n in g.nodes if n.op_name in ("Conv", "Linear")}
    module = build_module(q, latent)
    for name, (w, b) in module.latent_weights().items():
        np.testing.assert_array_equal(w, latent[name][0])
    # Fake-quantizing the float latents gives the stored integer weights: same outputs as without.
    np.testing.assert_allclose(module(torch.from_numpy(digits[:8])).detach().numpy(),
                               run_numpy(q, digits[:8]), atol=float_tolerance(run_numpy(q, digits[:8])) * 10)
