"""What the NEON kernels do for one layer, counted as they walk it: the terms the ARM cost figures
(``registry.ArmCost``) multiply.

The latency model prices a NEON kernel on an ARM board as ``sum over terms of cycles[term] *
count[term]``, each term an event of the kernel's own loops (mirrored here from the C, as
``packing.py`` mirrors the weight layouts), so that a layer whose shape fits the kernel's tiles
badly costs what the kernel really does rather than its MACs at full rate:

``mac``
    MACs the kernel computes, padding included (the sliding-window kernel: the layer's MACs). The packed GEMM (``ec_arm_gemm.h``: 1x1, im2col,
    fully connected) computes whole blocks of 16 output channels by groups of 4 reduction bytes
    (every in-place im2col tap starting a group), for every pixel slot of a register tile: a tile
    of ``m`` < ``tile`` pixels repeats its last pixel, except a lone pixel, which runs alone. The
    depthwise kernels (``ec_arm_dw.h``) compute 16 channels per tap; the XNOR kernel 16 output
    channels by 32-bit words of input channels per tap.
``segment``
    For the GEMM: a tile's pass over one segment of one 16-channel block (loads of the pixels'
    segment pointers, the loop over its groups, the tail group).
``edge``
    For the depthwise kernels: pixels times 16-channel blocks whose window reaches into the padding
    (the path that skips those taps and copies partial loads, slower than the interior's).
``output``
    Output values of full 16-channel blocks (the vector requantization and store).
``partial``
    Output pixels of a last block of fewer than 16 channels (partial loads, per-lane
    requantization constants and stores: several times a full block's cost per value).
``scratch``
    Bytes the kernel writes into scratch before its arithmetic (``KernelCost.traffic``: the rows
    the im2col kernel unfolds, the bit planes the XNOR kernel packs).
``call``
    One call of the kernel (set-up beyond the target's per-layer overhead).

Pixel runs of the in-place im2col (``ec_im2col.h``, ``ec_im2col_indirect``): every output row runs
along its inner columns (the columns whose windows lie inside the input horizontally); every other
column runs down its inner rows; each pixel left runs alone. A run of ``n`` pixels is cut into
``ceil(n / tile)`` tiles. The row runs read a kernel row as one segment where its taps are
contiguous (``packing.im2col_kernel_rows``), the other runs one segment per tap. A first layer of
narrow kernel rows (``packing.im2col_narrow_rows``) reads every pixel by kernel rows, and runs
each column outside the inner ones as lists of up to ``IM2COL_NARROW_LIST_PIXELS``. The 1x1 kernel
runs all positions as one run, the unfolding im2col one run per block of output rows
(``packing.im2col_unfold_rows``: one row unless the weights exceed 1 MiB), the fully connected
layer one lone pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .geometry import LayerGeometry
from .packing import (IM2COL_NARROW_LIST_PIXELS, PACK_LANES, XNOR_ROW_GROUP, im2col_indirect, im2col_kernel_rows,
                      im2col_narrow_rows, im2col_segments, im2col_unfold_rows)
from .packing_f32 import F32_NR

TERMS = ("mac", "segment", "edge", "output", "partial", "scratch", "call")

# Pixels per register tile of the NEON GEMM (EC_ARM_GEMM_TILE in ec_arm_gemm.h): 4 with SDOT, 2 on
# AArch64 without it, 1 on 32-bit ARM (16 NEON registers in all).
GEMM_TILE = {"arm-dotprod": 4, "arm": 2}
GEMM_TILE_ARMV7 = 1
DEPTHWISE_LANES = 16  # channels per vector step of ec_arm_dw.h
XNOR_WORD_BITS = 32
# Pixels per register tile of the NEON XNOR convolution (EC_ARM_B1_PIXELS in ec_arm_b1.h): any
# pixels of the layer, so only the layer's last tile can be short.
XNOR_PIXELS_AARCH64, XNOR_PIXELS_ARMV7 = 4, 2


@dataclass(frozen=True)
class ArmCost:
    """Cycles of a NEON kernel per counted event (module docstring), on the core its figures were
    fitted for (``bench/arm/fit_arm_costs.py``: ``arm`` on the Cortex-A72 of rpi4, ``arm-dotprod``
    on the Cortex-A76 of rpi5, a key such as ``arm@cortex-a53`` on that core: ``arm_figures``).
    ``measured`` is False: they are fitted to the qemu+llvm-mca estimates, not to a board's clock."""

    mac: float
    segment: float
    edge: float
    output: float
    partial: float
    scratch: float
    call: float
    measured: bool = False

    def cycles(self, terms: dict) -> float:
        return sum(getattr(self, term) * count for term, count in terms.items())

    def mac_per_cycle(self, peak: float) -> float:
        """MACs per cycle on large layers, where the per-MAC term dominates (``peak`` unused: the
        figure is the fitted board's own)."""
        return 1.0 / self.mac


def arm_figures(by_key: dict, level: str, core_key: Optional[str] = None):
    """A kernel's ARM figures for a board (``ArmCost`` or ``ArmElementCost``), or None: those fitted
    on the board's own core and build (``core_key``, the target's ``[latency] arm_figures``, such as
    ``arm@cortex-a53``) where the kernel has them, else its ARM level's (``arm``: fitted on the
    Cortex-A72, ``arm-dotprod``: on the Cortex-A76)."""
    if core_key is not None and core_key in by_key:
        return by_key[core_key]
    return by_key.get(level)


def gemm_tile(level: str, aarch64: bool) -> int:
    """Pixels per register tile of the NEON GEMM for an ARM kernel-set level."""
    return GEMM_TILE[level] if aarch64 else GEMM_TILE_ARMV7


def xnor_tile(aarch64: bool) -> int:
    """Pixels per register tile of the NEON XNOR convolution."""
    return XNOR_PIXELS_AARCH64 if aarch64 else XNOR_PIXELS_ARMV7


def _ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step


def _inner_span(size: int, taps: int, stride: int, pad: int, dilation: int, out: int) -> int:
    """How many output positions along an axis have all their taps inside the input
    (``ec_im2col_inner``)."""
    last = size - 1 - (taps - 1) * dilation + pad
    lo = min((pad + stride - 1) // stride, out)
    hi = min(0 if last < 0 else last // stride + 1, out)
    return max(hi - lo, 0)


def _window_axes(geo: LayerGeometry) -> tuple:
    """The rows and the columns of a 2-D (or 1 x W) window, each as (input size, taps, stride,
    leading padding, dilation, outputs)."""
    out_h, out_w = geo.out_hw
    in_h, in_w = (1,) * (2 - len(geo.in_spatial)) + tuple(geo.in_spatial)
    k_h, k_w = geo.kernel_hw
    s_h, s_w = (1,) * (2 - len(geo.stride)) + tuple(geo.stride)
    d_h, d_w = (1,) * (2 - len(geo.dilation)) + tuple(geo.dilation)
    pad_top = geo.pads[0] if len(geo.pads) == 4 else 0
    pad_left = geo.pads[1] if len(geo.pads) == 4 else geo.pads[0]
    return (in_h, k_h, s_h, pad_top, d_h, out_h), (in_w, k_w, s_w, pad_left, d_w, out_w)


def _inner_pixels(geo: LayerGeometry) -> tuple:
    """(output rows, output columns, inner rows, inner columns) of a 2-D (or 1 x W) window."""
    rows, cols = _window_axes(geo)
    return rows[-1], cols[-1], _inner_span(*rows), _inner_span(*cols)


def _runs(geo: LayerGeometry, algorithm: str) -> list:
    """The pixel runs the GEMM kernel cuts into tiles, as (pixels, segments each tile of the run
    passes over)."""
    if geo.op == "Linear" or algorithm == "ec_s8_conv2d_1x1":
        return [(1 if geo.op == "Linear" else geo.out_positions, 1)]
    out_h, out_w, inner_rows, inner_cols = _inner_pixels(geo)
    k_h, k_w = geo.kernel_hw
    if not im2col_indirect(geo.c_in, k_h, k_w):
        block = im2col_unfold_rows(geo.c_in, k_h, k_w, out_h, out_w, geo.c_out)
        return [(min(block, out_h - oy) * out_w, 1) for oy in range(0, out_h, block)]
    taps, other_cols = k_h * k_w, out_w - inner_cols
    if im2col_narrow_rows(geo.c_in, k_h, k_w, geo.dilation[-1]):
        lists = [min(IM2COL_NARROW_LIST_PIXELS, out_h - oy) for oy in range(0, out_h, IM2COL_NARROW_LIST_PIXELS)]
        return [(inner_cols, k_h)] * out_h + [(n, k_h) for n in lists] * other_cols
    row_segments = k_h if im2col_kernel_rows(geo.c_in, k_w, geo.dilation[-1]) else taps
    return ([(inner_cols, row_segments)] * out_h + [(inner_rows, taps)] * other_cols
            + [(1, taps)] * (other_cols * (out_h - inner_rows)))


def gemm_terms(geo: LayerGeometry, algorithm: str, tile: int, scratch_bytes: int) -> dict:
    """The terms of one call of a packed-GEMM kernel (1x1, im2col, fully connected)."""
    im2col = geo.op != "Linear" and algorithm != "ec_s8_conv2d_1x1"
    segments_per_pixel, seg_len = im2col_segments(geo.c_in, *geo.kernel_hw, geo.dilation[-1]) if im2col else (1, geo.reduction)
    slots = segments = 0
    for n, run_segments in _runs(geo, algorithm):
        whole, rest = divmod(n, tile)
        slots += whole * tile + (rest if rest <= 1 else tile)
        segments += (whole + (rest > 0)) * run_segments
    blocks = -(-geo.c_out // PACK_LANES)
    positions = geo.out_positions
    return {
        "mac": slots * blocks * PACK_LANES * segments_per_pixel * _ceil_to(seg_len, 4),
        "segment": segments * blocks,
        "edge": 0,
        "output": positions * (geo.c_out // PACK_LANES) * PACK_LANES,
        "partial": positions * (geo.c_out % PACK_LANES > 0),
        "scratch": scratch_bytes,
        "call": 1,
    }


def depthwise_terms(geo: LayerGeometry) -> dict:
    """The terms of one call of a NEON depthwise kernel: 16 channels per tap and step."""
    positions = geo.out_positions
    _, _, inner_rows, inner_cols = _inner_pixels(geo)
    return {
        "mac": positions * _ceil_to(geo.c_out, DEPTHWISE_LANES) * math.prod(geo.kernel),
        "segment": 0,
        "edge": (positions - inner_rows * inner_cols) * -(-geo.c_out // DEPTHWISE_LANES),
        "output": positions * (geo.c_out // DEPTHWISE_LANES) * DEPTHWISE_LANES,
        "partial": positions * (geo.c_out % DEPTHWISE_LANES > 0),
        "scratch": 0,
        "call": 1,
    }


def xnor_terms(geo: LayerGeometry, tile: int, scratch_bytes: int) -> dict:
    """The terms of one call of the NEON XNOR convolution: tiles of ``tile`` pixels by blocks of 16
    output channels by 32-bit words of input channels per tap; every block's 16 outputs are
    computed (a last block of fewer channels is not cheaper)."""
    positions = geo.out_positions
    blocks = _ceil_to(geo.c_out, XNOR_ROW_GROUP)
    return {
        "mac": _ceil_to(positions, tile) * blocks * math.prod(geo.kernel) * _ceil_to(geo.c_in, XNOR_WORD_BITS),
        "segment": 0,
        "edge": 0,
        "output": positions * blocks,
        "partial": 0,
        "scratch": scratch_bytes,
        "call": 1,
    }


def direct_terms(geo: LayerGeometry) -> dict:
    """The terms of one call of the NEON sliding-window convolution: the layer's MACs and outputs,
    one by one (a window row per MAC run, no channel blocks)."""
    return {"mac": geo.macs, "segment": 0, "edge": 0, "output": geo.out_numel, "partial": 0, "scratch": 0,
            "call": 1}


# ---- fp32 kernels ----------------------------------------------------------------------------
# The fp32 kernels use the same terms, counted as their own C walks a layer. The NEON GEMMs
# (ec_f32_conv2d_1x1.c, ec_f32_conv2d_im2col.c) compute whole blocks of ``F32_NR`` output
# channels, one input channel per step: ``mac`` is steps times the block (padding taps skipped),
# ``segment`` a register tile's pass over one tap's input channels (1x1: a tile of
# ``F32_1X1_TILE`` positions, or one position left over; im2col: one position, once per tap inside
# the input), ``output`` the output values (finished one by one in scalar code). The NEON
# depthwise kernel (ec_f32_dwconv2d.c) steps ``F32_DW_LANES`` channels per tap inside the input:
# ``mac`` counts those lanes, ``partial`` the output pixels of a last group of fewer channels (its
# taps in scalar code), ``output`` the output values. The portable fully connected kernel
# (ec_f32_fully_connected.c, the one the ARM build runs) sums ``F32_FC_ROWS`` outputs side by
# side: ``mac`` counts their products, ``partial`` the products of the rows left over (one
# chain of dependent additions each), ``output`` the outputs.

F32_1X1_TILE = 4        # MR in ec_f32_conv2d_1x1.c
F32_DW_LANES = 4        # LANES in ec_f32_dwconv2d.c
F32_FC_ROWS = 8         # ROWS in ec_f32_fully_connected.c


def _taps_inside(size: int, taps: int, stride: int, pad: int, dilation: int, out: int) -> int:
    """Taps inside the input summed over the output positions along one axis (the kernels skip
    those in the padding)."""
    return sum(sum(0 <= o * stride - pad + k * dilation < size for k in range(taps)) for o in range(out))


def inside_taps(geo: LayerGeometry) -> int:
    """Window taps inside the input, summed over the output positions of a 2-D (or 1 x W) window."""
    rows, cols = _window_axes(geo)
    return _taps_inside(*rows) * _taps_inside(*cols)


def f32_gemm_terms(geo: LayerGeometry, algorithm: str) -> dict:
    """The terms of one call of the NEON fp32 1x1 or im2col kernel."""
    blocks = -(-geo.c_out // F32_NR)
    positions = geo.out_positions
    if algorithm == "ec_f32_conv2d_1x1":
        taps = positions
        passes = positions // F32_1X1_TILE + positions % F32_1X1_TILE
    else:
        taps = passes = inside_taps(geo)
    return {"mac": taps * geo.c_in * blocks * F32_NR, "segment": passes * blocks, "edge": 0,
            "output": positions * geo.c_out, "partial": 0, "scratch": 0, "call": 1}


def f32_depthwise_terms(geo: LayerGeometry) -> dict:
    """The terms of one call of the NEON fp32 depthwise kernel."""
    positions = geo.out_positions
    return {"mac": inside_taps(geo) * (geo.c_out // F32_DW_LANES) * F32_DW_LANES, "segment": 0, "edge": 0,
            "output": positions * geo.c_out, "partial": positions * (geo.c_out % F32_DW_LANES > 0),
            "scratch": 0, "call": 1}


def f32_fully_connected_terms(geo: LayerGeometry) -> dict:
    """The terms of one call of the fp32 fully connected kernel."""
    side_by_side = geo.c_out // F32_FC_ROWS * F32_FC_ROWS
    return {"mac": side_by_side * geo.c_in, "segment": 0, "edge": 0, "output": geo.c_out,
            "partial": (geo.c_out - side_by_side) * geo.c_in, "scratch": 0, "call": 1}


GEMM_KERNELS = ("ec_s8_conv2d_1x1", "ec_s8_conv2d_im2col", "ec_s8_fully_connected")
F32_GEMM_KERNELS = ("ec_f32_conv2d_1x1", "ec_f32_conv2d_im2col")
DEPTHWISE_KERNELS = ("ec_s8_dwconv2d_3x3", "ec_s8_dwconv2d_generic")
XNOR_KERNELS = ("ec_b1_conv2d_xnor",)
# every kernel whose ARM walk kernel_terms counts
WALKED_KERNELS = (GEMM_KERNELS + F32_GEMM_KERNELS + DEPTHWISE_KERNELS + XNOR_KERNELS
                  + ("ec_s8_conv2d_slidingwin", "ec_f32_dwconv2d", "ec_f32_fully_connected"))


def kernel_terms(kernel_name: str, geo: LayerGeometry, level: str, aarch64: bool, scratch_bytes: int) -> dict:
    """The terms of one call of NEON kernel ``kernel_name`` on a layer of shape ``geo``, built for
    ARM level ``level`` (``arm`` or ``arm-dotprod``) on 64-bit (``aarch64``) or 32-bit ARM."""
    if kernel_name in GEMM_KERNELS:
        return gemm_terms(geo, kernel_name, gemm_tile(level, aarch64), scratch_bytes)
    if kernel_name in DEPTHWISE_KERNELS:
        return depthwise_terms(geo)
    if kernel_name in XNOR_KERNELS:
        return xnor_terms(geo, xnor_tile(aarch64), scratch_bytes)
    if kernel_name == "ec_s8_conv2d_slidingwin":
        return direct_terms(geo)
    if kernel_name in F32_GEMM_KERNELS:
        return f32_gemm_terms(geo, kernel_name)
    if kernel_name == "ec_f32_dwconv2d":
        return f32_depthwise_terms(geo)
    if kernel_name == "ec_f32_fully_connected":
        return f32_fully_connected_terms(geo)
    raise KeyError(f"no NEON walk is described for kernel {kernel_name}")


# ---- ops without MACs ------------------------------------------------------------------------

ELEMENT_COUNTS = ("element", "input", "block", "window-block", "window")


@dataclass(frozen=True)
class ArmElementCost:
    """Cycles of an op without MACs on an ARM level: ``count * cycles + partial * (pixels with
    a last block of fewer than 16 channels) + call``, where ``count`` is, by ``per``:
    ``element`` output elements (a loop over the flat tensor), ``input`` input elements,
    ``block`` output pixels times 16-channel blocks (the NEON kernels that vectorize across
    channels: mul; the add's affine step runs over the flat tensor, per ``element``),
    ``window-block`` that times the pooling window (the int8 max and average pools) or ``window``
    output elements times the pooling window (the fp32 pools, one output value at a time)."""

    per: str
    cycles: float
    partial: float = 0.0
    call: float = 0.0

    def total(self, terms: dict) -> float:
        return self.cycles * terms["count"] + self.partial * terms["partial"] + self.call * terms["call"]


def element_terms(per: str, out_shape: tuple, input_elements: int, window: int) -> dict:
    """``count``, ``partial`` and ``call`` of one call of an op without MACs (``ArmElementCost``);
    ``out_shape`` is channels-first with the batch, ``window`` the pooling window's taps."""
    channels = out_shape[1] if len(out_shape) > 1 else 1
    positions = math.prod(out_shape[2:])
    blocks = positions * -(-channels // DEPTHWISE_LANES)
    elements = math.prod(out_shape[1:])
    counts = {"element": elements, "input": input_elements, "block": blocks, "window-block": blocks * window,
              "window": elements * window}
    partial = positions * (channels % DEPTHWISE_LANES > 0) if per in ("block", "window-block") else 0
    return {"count": counts[per], "partial": partial, "call": 1}
