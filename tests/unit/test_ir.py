import dataclasses

import numpy as np
import pytest

from edgeconv.ir import Graph, GraphError, Node, QuantParams, Tensor, format_graph, infer_shapes, verify
from edgeconv.ir import ops


def small_graph():
    g = Graph(name="t")
    g.add_tensor(Tensor("x", (1, 3, 8, 8)))
    g.add_tensor(Tensor("w", (4, 3, 3, 3), data=np.zeros((4, 3, 3, 3), np.float32)))
    g.add_tensor(Tensor("y", (1, 4, 4, 4)))
    g.add_tensor(Tensor("z", (1, 64)))
    g.inputs = ["x"]
    g.add_node(Node("conv", ops.Conv(stride=(2, 2), pads=(1, 1, 1, 1)), ["x", "w"], "y"))
    g.add_node(Node("flat", ops.Reshape(shape=(-1,)), ["y"], "z"))
    g.outputs = ["z"]
    return g


def test_verify_accepts_well_formed_graph_and_prints_it():
    g = verify(small_graph())
    text = format_graph(g)
    assert "conv" in text and "Reshape" in text and "float32[1x4x4x4]" in text


def test_verify_rejects_wrong_stored_shape():
    g = small_graph()
    g.tensors["y"].shape = (1, 4, 5, 5)
    with pytest.raises(GraphError, match="node conv"):
        verify(g)


def test_verify_rejects_use_before_definition():
    g = small_graph()
    g.nodes.reverse()
    with pytest.raises(GraphError, match="before it is computed"):
        verify(g)


def test_shape_inference_conv_stride_dilation_groups_and_asymmetric_pads():
    op = ops.Conv(stride=(2, 1), pads=(1, 0, 2, 1), dilation=(1, 2), groups=3)
    assert op.infer([(2, 6, 9, 11), (9, 2, 3, 2)]) == (2, 9, 5, 10)
    with pytest.raises(ops.ShapeError):
        op.infer([(2, 5, 9, 11), (9, 2, 3, 2)])


def test_shape_inference_updates_after_input_change():
    g = small_graph()
    g.tensors["x"].shape = (1, 3, 16, 16)
    infer_shapes(g)
    assert g.tensors["y"].shape == (1, 4, 8, 8) and g.tensors["z"].shape == (1, 256)


def test_pool_ceil_mode_drops_window_starting_in_padding():
    # PyTorch rule: the last window must start inside the input or the left padding.
    op = ops.MaxPool(kernel=(2, 2), stride=(2, 2), pads=(1, 1, 1, 1), ceil_mode=True)
    assert op.infer([(1, 1, 4, 4)]) == (1, 1, 3, 3)


def test_quant_params_store_float32_scales_and_check_ranges():
    q = QuantParams(scale=0.1, zero_point=-3)
    assert q.scale[0] == float(np.float32(0.1)) and not q.per_channel
    with pytest.raises(ValueError):
        QuantParams(scale=[0.1, 0.2], zero_point=[0, 0])
    with pytest.raises(ValueError):
        QuantParams(scale=0.0, zero_point=0)
    assert QuantParams(scale=[0.1, 0.2], zero_point=[0, 0], axis=0).broadcast_shape(4) == (2, 1, 1, 1)


def test_op_traits_agree_with_the_op_definitions():
    """Each trait is a claim about the op's definition; check the claims that the fields can show."""
    for name, cls in ops.OPS.items():
        field_names = {f.name for f in dataclasses.fields(cls)}
        if cls.WEIGHTED:
            assert cls.INPUTS == ("x", "weight", "bias"), name
        if cls.FUSES_CLIP:
            assert "clamp" in field_names, name
        if cls.ACTIVATION or cls.PER_ELEMENT or cls.SCALE_EQUIVARIANT or cls.LAYOUT_ONLY:
            assert cls.INPUTS == ("x",), name
        if cls.ACTIVATION:
            assert cls.PER_ELEMENT, name
        if cls.LAYOUT_ONLY:
            assert cls.KEEPS_GRID and cls.SCALE_EQUIVARIANT, name
        assert cls.FIXED_GRID in (None, "probability", "binary"), name
        assert not (cls.FIXED_GRID and cls.KEEPS_GRID), name
    assert ops.ops_with("WEIGHTED") == ("Conv", "ConvTranspose", "Linear")


def test_scale_equivariant_ops_commute_with_a_positive_rescaling():
    from edgeconv.reference.float_kernels import KERNELS

    x = np.random.default_rng(0).normal(size=(1, 3, 6, 6)).astype(np.float64)
    samples = {"MaxPool": ops.MaxPool(), "AvgPool": ops.AvgPool(), "GlobalAvgPool": ops.GlobalAvgPool(),
               "Reshape": ops.Reshape(), "Transpose": ops.Transpose((0, 2, 3, 1)),
               "Slice": ops.Slice(axis=2, start=1, end=4), "ResizeNearest": ops.ResizeNearest((12, 18)),
               "ResizeBilinear": ops.ResizeBilinear((9, 4))}
    assert set(samples) == set(ops.ops_with("SCALE_EQUIVARIANT"))
    for name, op in samples.items():
        kernel = KERNELS[name]
        np.testing.assert_allclose(kernel(op, x / 3.5), kernel(op, x) / 3.5, rtol=1e-5, atol=1e-6)
