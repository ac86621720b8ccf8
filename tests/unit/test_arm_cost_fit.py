"""The ARM latency model's counted events (kernels/arm_work.py) and their fit (profile/arm_fit.py)."""

from __future__ import annotations

import pytest

from edgeconv.kernels.arm_work import ArmCost, ArmElementCost, element_terms, kernel_terms
from edgeconv.kernels.geometry import LayerGeometry
from edgeconv.profile.arm_fit import Row, fit, held_out_errors


def conv(c_in, c_out, k, hw, pad, groups=1, stride=1):
    out = (hw + 2 * pad - k) // stride + 1
    return LayerGeometry("Conv", c_in, c_out, groups, (k, k), (stride, stride), (pad,) * 4, (1, 1), (hw, hw),
                         (out, out), True)


def linear(c_in, c_out):
    return LayerGeometry("Linear", c_in, c_out, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), (1, 1), (1, 1), True)


def test_the_gemm_counts_tiles_blocks_and_groups_as_the_kernel_walks_them():
    # 3x3, pad 1 on 4x4: inner rows and columns 1..2; the 4 rows run their 2 inner columns (one
    # tile of 2 each on AArch64 without SDOT), the 2 edge columns their 2 inner rows (one tile
    # each), the 4 corners alone: 6 tiles of 2 pixels and 4 lone pixels.
    terms = kernel_terms("ec_s8_conv2d_im2col", conv(6, 20, 3, 4, 1), "arm", True, 0)
    k4 = 9 * 8                                   # every tap a segment of 6 bytes, rounded up to 8
    assert terms["mac"] == (6 * 2 + 4) * 32 * k4  # 20 channels: 2 blocks of 16
    assert terms["segment"] == (6 + 4) * 2 * 9
    assert terms["output"] == 16 * 16 and terms["partial"] == 16
    # with SDOT the tiles hold 4 pixels: a run of 2 fills half a tile, still computed whole
    dot = kernel_terms("ec_s8_conv2d_im2col", conv(6, 20, 3, 4, 1), "arm-dotprod", True, 0)
    assert dot["mac"] == (6 * 4 + 4) * 32 * k4
    # a fully connected layer is one lone pixel; 32-bit ARM tiles hold one pixel
    assert kernel_terms("ec_s8_fully_connected", linear(10, 17), "arm", True, 0)["mac"] == 32 * 12
    assert kernel_terms("ec_s8_conv2d_1x1", conv(16, 16, 1, 3, 0), "arm", False, 0)["mac"] == 9 * 16 * 16


def test_depthwise_and_element_counts():
    terms = kernel_terms("ec_s8_dwconv2d_3x3", conv(24, 24, 3, 5, 1, groups=24), "arm", True, 0)
    assert terms["mac"] == 25 * 32 * 9 and terms["edge"] == (25 - 9) * 2
    assert terms["output"] == 25 * 16 and terms["partial"] == 25
    add = element_terms("block", (1, 40, 3, 3), 720, 1)
    assert add == {"count": 9 * 3, "partial": 9, "call": 1}
    assert element_terms("window-block", (1, 16, 2, 2), 256, 4)["count"] == 4 * 4
    assert element_terms("element", (1, 40, 3, 3), 360, 1) == {"count": 360, "partial": 0, "call": 1}


def test_the_fp32_kernels_count_steps_passes_and_outputs_as_their_c_walks():
    # 1x1 on 3x3 = 9 positions: two tiles of 4 and one position alone, per block of 16 channels
    terms = kernel_terms("ec_f32_conv2d_1x1", conv(5, 20, 1, 3, 0), "arm", True, 0)
    assert terms["mac"] == 9 * 5 * 32 and terms["segment"] == (2 + 1) * 2
    assert terms["output"] == 9 * 20 and terms["partial"] == 0 and terms["call"] == 1
    # im2col 3x3, pad 1 on 4x4: per axis the 4 outputs see 2, 3, 3, 2 taps inside (10), so
    # 100 taps inside in all; each is one pass over the 6 input channels per block
    terms = kernel_terms("ec_f32_conv2d_im2col", conv(6, 20, 3, 4, 1), "arm-dotprod", True, 0)
    assert terms["mac"] == 100 * 6 * 32 and terms["segment"] == 100 * 2
    assert terms["output"] == 16 * 20
    # stride 2 on 5x5, pad 1: outputs 0, 1, 2 see 2, 3, 2 taps per axis
    assert kernel_terms("ec_f32_conv2d_im2col", conv(1, 16, 3, 5, 1, stride=2), "arm", True, 0)["segment"] == 7 * 7
    # depthwise: 4 channel lanes per tap inside, a last group of 2 channels in scalar code
    terms = kernel_terms("ec_f32_dwconv2d", conv(10, 10, 3, 4, 1, groups=10), "arm", True, 0)
    assert terms["mac"] == 100 * 8 and terms["partial"] == 16 and terms["output"] == 16 * 10
    # fully connected: 8 rows side by side, the 3 left over one by one
    terms = kernel_terms("ec_f32_fully_connected", linear(40, 19), "arm", True, 0)
    assert terms["mac"] == 16 * 40 and terms["partial"] == 3 * 40 and terms["output"] == 19
    # the fp32 pools: every output value walks its window
    assert element_terms("window", (1, 6, 2, 2), 96, 4) == {"count": 24 * 4, "partial": 0, "call": 1}


KNOWN_GEMM = ArmCost(mac=0.14, segment=12.0, edge=0.0, output=6.0, partial=250.0, scratch=0.0, call=440.0)
KNOWN_ADD = ArmElementCost("block", 130.0, partial=150.0)
OVERHEAD = 60.0


def synthetic_rows() -> list:
    """Layers of several shapes and 'models', their cycles given exactly by the known figures."""
    rows = []
    shapes = [conv(8, 8, 3, 14, 1), conv(16, 24, 3, 10, 1), conv(32, 64, 3, 8, 1), conv(3, 16, 3, 32, 1),
              conv(64, 40, 1, 7, 0), conv(1, 32, 3, 28, 1), conv(24, 48, 3, 6, 1), conv(128, 16, 1, 5, 0),
              conv(5, 8, 3, 9, 0), conv(40, 40, 3, 16, 1), conv(16, 16, 1, 30, 0), conv(2, 64, 3, 12, 1)]
    for i, geo in enumerate(shapes):
        terms = kernel_terms("ec_s8_conv2d_im2col", geo, "arm", True, 0)
        rows.append(Row(("kernel", "ec_s8_conv2d_im2col"), terms, OVERHEAD + KNOWN_GEMM.cycles(terms), f"m{i % 3}"))
    for i, shape in enumerate([(1, 8, 14, 14), (1, 16, 7, 7), (1, 40, 8, 8), (1, 64, 4, 4), (1, 24, 9, 9),
                               (1, 32, 3, 3), (1, 4, 20, 20), (1, 96, 2, 2), (1, 17, 5, 5)]):
        terms = element_terms("block", shape, 0, 1)
        rows.append(Row(("element", "ec_s8_add", "block"), terms, OVERHEAD + KNOWN_ADD.total(terms), f"m{i % 3}"))
    return rows


def test_the_fit_recovers_known_figures_from_synthetic_layers():
    fitted = fit(synthetic_rows())
    assert fitted.layer_overhead == pytest.approx(OVERHEAD, rel=1e-6)
    gemm = fitted.cost(("kernel", "ec_s8_conv2d_im2col"))
    for term in ("mac", "segment", "output", "partial", "call"):
        assert getattr(gemm, term) == pytest.approx(getattr(KNOWN_GEMM, term), rel=1e-6)
    add = fitted.cost(("element", "ec_s8_add", "block"))
    assert (add.per, add.cycles, add.partial) == ("block", pytest.approx(130.0), pytest.approx(150.0))
    # exact data: every model is predicted from the others without error
    assert all(abs(error) < 1e-6 for error in held_out_errors(synthetic_rows()).values())
