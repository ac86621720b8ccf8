"""The one list of C kernels: it feeds the selector, the latency model, the C lowering, the build
and the kernel tests.

Each kernel is one C function, defined in ``kernels_c/portable/<name>.c`` (always built) and
optionally in ``kernels_c/x86/<name>.c`` (AVX2, or AVX-512 VNNI where the compiler targets it) and
``kernels_c/arm/<name>.c`` (NEON) with the same name; the build picks the file of the kernel set
it compiles (``isa``, ``sources_for``). ``algorithm`` is the short name reported per layer in
``report.json`` and used by the latency model.

A Conv or Linear kernel also has:

- ``fits``: the layer shapes it runs (``LayerGeometry``), the one test the selector and the C
  lowering both apply; the binary kernels also need integer operands of a given form, checked
  by the lowering on the quantized graph (``operands``, see ``operands.py``);
- ``scratch``: the bytes of arena scratch one call uses;
- ``pack``: its weights in the layout it reads (integer conv kernels; ``packing.py``);
- ``cost``: the layer precisions it serves and the latency model's figures (:class:`KernelCost`).

Every kernel whose calls the thread pool of the generated C can share names its ``split``: how a
call is cut into tasks without changing an output byte (``split.py``).

**Cost figures.** ``portable`` is the measured cost of the portable C version (always built; see
:class:`PortableCost`). ``simd`` applies when a SIMD version exists for the target's kernel set
(``kernels_c/arm`` or ``kernels_c/x86``): a share of the precision's peak MAC rate
(targets/*.toml ``[[peak]]``, among the figures the kernel set's level allows) plus a per-output
cost (:class:`SimdCost`). ``x86`` holds the x86 versions' figures per x86 level (``kernels.isa``):
a level without its own figures takes those of the nearest level below it that has them (the
``avx512`` level runs the AVX2 GEMM), else ``simd``. The ``simd`` int8 and XNOR shares were
measured on the first (AVX2) x86 versions and are assumed for the NEON ones; the ``x86`` figures
are fitted by ``bench/bench_latency_model.py --kernels x86`` at each level (forced with
``EDGECONV_X86_LEVEL``; the machine and date are in ``bench/README.md``). ``arm`` holds the NEON
versions' figures per ARM level (``arm``: plain NEON, SMLAL/SMULL; ``arm-dotprod``: SDOT), else
``simd``. No board is reachable, so they are fitted to estimates (qemu-user + llvm-mca) by
``bench/arm/fit_arm_costs.py``: for the GEMM (1x1, im2col, fully connected), depthwise and XNOR
kernels, ``arm_work.ArmCost`` figures, cycles per event of the kernel's walk over a layer
(positional: MAC of its tiles, segment pass, pixel-block in the padding, full-block output,
partial-block pixel, scratch byte, call; ``kernels/arm_work.py``), fitted on rpi4 (Cortex-A72)
for ``arm`` and rpi5 (Cortex-A76) for ``arm-dotprod``; the fp32 1x1, im2col and depthwise NEON
kernels and the fp32 fully connected kernel (portable C, the version the ARM build runs) have
``ArmCost`` figures fitted the same way, counted as their own C walks a layer; for the
sliding-window and bit-serial kernels ``SimdCost`` shares, the inner-loop figures of
``bench/arm/bench_neon_loops.py`` (an upper bound). The ops without MACs (int8, and fp32 where
the output is float32) have their ARM figures in ``Kernel.arm_element``. The x86 figures
of the kernels the selector gives a layer by its shape and of the general dense ones (int8 1x1,
depthwise 3x3, fully connected and im2col; fp32 1x1 and im2col), with a per-position term for the
GEMMs, and the element-wise x86 kernels'
cycles per element per level (``Kernel.x86_element``: add, mul, lookup tables, quantize, pools)
are fitted on whole models' per-layer times instead (``bench/bench_host_latency.py --fit``,
``bench/host_fit.py``; the models and the fit's errors are in ``bench/README.md``); the other
x86 figures come from the one-layer grid. A share above 1.0 means
the core runs above the nominal clock the target reports. The others, for kernels without a SIMD
version, are assumptions:

- fp32 direct conv 30% and fully connected 35% of the fp32 peak (below the 50-80% of tuned GEMM
  libraries such as ruy or XNNPACK); the fp32 1x1, im2col and depthwise kernels 35%, 25% and 8%:
  a multiply and an add per MAC (FMUL, FADD: TFLite's rounding, see ``ec_f32.h``) reach at most
  half of a peak counted in fused FMLAs (on the ARM boards their fitted ``arm`` figures apply);
- generic depthwise 5% of the int8 peak (depthwise does K*K MACs per loaded input; the measured
  3x3 version reaches 2.6%);
- bit-serial 40% of the binary peak, as XNOR (same popcount loop, K*M passes);
- the transposed convolutions have no SIMD version, so their ``simd`` figures (the sliding
  window's and the direct convolution's) are never used; their portable figures are measured as
  the others' (``KERNEL_GRID`` kind "up"; MACs count every product of the scatter, the cropped
  ones too). They serve int8 and fp32 only: no bit-plane kernel runs a transposed convolution,
  so the selector offers it no DoReFa or XNOR precision.

A measured table for the board (``edgeconv profile``) replaces all of these.

**Per core.** A board whose TOML names figures fitted on its own core and build (``[latency]
arm_figures``: ``arm@cortex-a53`` for the Zero 2 W, ``arm@cortex-a53-armv7`` for rpi3's 32-bit
build, fitted by ``bench/arm/fit_arm_costs.py --board``) takes a kernel's ``arm`` and
``arm_element`` entries under that key where the kernel has them, else its ARM level's
(``arm_work.arm_figures``).

Precisions (``quant.precision``): a low-bit layer is also an ordinary int8 layer whose values take
few levels, so every int8 kernel runs it exactly, at int8 speed; the bit-serial and XNOR kernels
compute the same int32 accumulators from bit planes with popcounts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..errors import UserError
from ..quant.precision import Precision
from ..resources import kernels_dir
from .arm_work import ArmCost, ArmElementCost, arm_figures
from .geometry import LayerGeometry
from .isa import ISAS, X86_LEVEL_NAMES
from .split import (
    ELEMENT_ROWS, ELEMENTS, GEMM_CHANNELS, POINTWISE_POSITIONS, RESIZE_ROWS, SOFTMAX_ROWS, WEIGHTED_ROWS, WINDOW_ROWS,
    Split,
)
from .operands import binary_operands, bitserial_operands, xnor_conv_operands
from .packing_f32 import F32_DW_MAX_TAPS, pack_f32_depthwise, pack_f32_direct, pack_f32_gemm
from .packing import (
    bitplane_scratch_bytes, im2col_indirect, im2col_scratch_bytes, pack_for_bitserial, pack_for_depthwise,
    pack_for_im2col, pack_for_pointwise, pack_for_sliding_window, pack_for_xnor,
)

INT8_KINDS = ("int8", "dorefa", "xnor")  # every quantized layer runs exactly on the int8 kernels


@dataclass(frozen=True)
class PortableCost:
    """Cycles of the portable C kernel: ``cycles_per_mac * MACs * passes + cycles_per_output * outputs``.

    Measured, not assumed: ``bench/bench_latency_model.py --kernels portable`` fits both figures
    per kernel by non-negative least squares over one-layer models timed (CPU time) on the build
    machine: AMD EPYC x86-64 at 2.6 GHz, gcc 12.2 ``-O2 -march=native``, 2026-11-21. Other cores
    scale them by their ``[latency] portable_cycle_scale``.
    """

    cycles_per_mac: float
    cycles_per_output: float


@dataclass(frozen=True)
class SimdCost:
    """A SIMD version's cycles: ``MACs * passes / (peak * share_of_peak) + cycles_per_output * outputs
    + cycles_per_position * output positions + cycles_per_edge_position * edge positions +
    cycles_per_call`` (edge positions: ``packing.im2col_edge_positions``, the positions the int8
    im2col kernel reads apart from its row tiles; none for the other kernels).

    ``peak`` is the target's ``[[peak]]`` figure for the kernel's class (within the x86 level's
    features); ``cycles_per_output`` (the scalar requantization and store) is scaled by
    ``portable_cycle_scale``. ``measured``: both figures come from ``bench/bench_latency_model.py
    --kernels x86`` on the build machine (for ``simd``: the first AVX2 kernels against the AVX2
    peak, a share assumed to carry over to the NEON versions); otherwise they are assumptions
    (module docstring).
    """

    share_of_peak: float
    cycles_per_output: float
    measured: bool
    # the work done once per output position (the window gathered, the row of channels walked),
    # the extra work of a position whose window crosses the input's left or right edge, and the
    # work of the call (its set-up, its edge and corner runs, its smallest tiles): fitted for the
    # x86 versions (bench/host_fit.py), 0 elsewhere
    cycles_per_position: float = 0.0
    cycles_per_edge_position: float = 0.0
    cycles_per_call: float = 0.0


def _no_bytes(geo: LayerGeometry, precision: Precision) -> int:
    return 0


def _im2col_traffic(geo: LayerGeometry, precision: Precision) -> int:
    """The unfolded patches streamed through the row buffer, ``C_in * prod(kernel)`` bytes per
    output position, when the kernel unfolds; none when it reads the taps in place."""
    if im2col_indirect(geo.c_in, *geo.kernel_hw):
        return 0
    return geo.reduction * geo.out_positions


def _bitplane_traffic(geo: LayerGeometry, precision: Precision) -> int:
    """Input activations packed to M bit planes of C_in bits per input position."""
    planes = 1 if precision.kind == "xnor" else precision.act_bits
    return planes * math.ceil(geo.c_in / 8) * math.prod(geo.in_spatial)


@dataclass(frozen=True)
class KernelCost:
    """What the selector and the latency model know of a Conv or Linear kernel: the precision kinds
    it serves (``Precision.kind``), the class of peak that bounds it, the cost of its portable and
    SIMD versions, and the scratch bytes it writes and reads back per call (``traffic``: the
    memory term of the latency model, which for the unfolding im2col exceeds the one row it keeps
    in the arena). ``dense_only``: the figures hold for dense layers only, and the selector offers
    the kernel to no depthwise layer (the depthwise kernels run those, as the C lowering chooses
    when no kernel is asked)."""

    kinds: tuple
    peak: str                # "fp32" | "int8" | "binary": which [[peak]] figure bounds it
    portable: PortableCost   # the portable C version, measured
    simd: SimdCost           # a SIMD version (used where kernels_c/<isa>/<name>.c exists)
    traffic: Callable[[LayerGeometry, Precision], int] = _no_bytes
    max_weight_bits: int = 32
    x86: dict = field(default_factory=dict, hash=False)  # x86 level -> the x86 version's cost, where measured
    # ARM level -> the cost of the version the ARM build runs (the NEON one, else the portable C), where estimated
    arm: dict = field(default_factory=dict, hash=False)
    dense_only: bool = False

    def simd_cost(self, level: str, arm_core: Optional[str] = None) -> SimdCost:
        """The SIMD cost model for a kernel set's level (``KernelSet.level``: an x86 or an ARM level);
        on ARM, the figures of the board's core ``arm_core`` (its ``[latency] arm_figures``) where
        the kernel has them (``arm_work.arm_figures``)."""
        if level in X86_LEVEL_NAMES:
            for lower in reversed(X86_LEVEL_NAMES[: X86_LEVEL_NAMES.index(level) + 1]):
                if lower in self.x86:
                    return self.x86[lower]
        neon = arm_figures(self.arm, level, arm_core)
        return self.simd if neon is None else neon


def _any_shape(geo: LayerGeometry) -> bool:
    return True


@dataclass(frozen=True)
class Kernel:
    """One C kernel: its function (and file) name, the IR op it runs and how."""

    name: str
    op: str
    algorithm: str
    dtype: str          # "s8" int8, "b1" packed bits, "f32" float, "any" raw bytes
    header: str         # the kernels_c/include header declaring it
    description: str
    fits: Callable[[LayerGeometry], bool] = _any_shape
    operands: Optional[Callable] = None  # (node, input tensor, int weights) -> bool; see operands.py
    scratch: Callable[[LayerGeometry, Precision], int] = _no_bytes
    pack: Optional[Callable] = None  # integer weights -> (C type, packed array); see packing.py
    cost: Optional[KernelCost] = None
    split: Optional[Split] = None  # how the thread pool shares its calls (split.py); None: one thread
    # An element-wise kernel's x86 version: x86 level -> cycles per element, counted as the latency
    # model counts the op (``select.latency.ELEMENT_CYCLES``: outputs, inputs or window taps).
    x86_element: dict = field(default_factory=dict, hash=False)
    # An op's cost on an ARM level (``arm_work.ArmElementCost``), fitted by
    # bench/arm/fit_arm_costs.py from the qemu+llvm-mca estimates; the ARM boards' model uses it.
    arm_element: dict = field(default_factory=dict, hash=False)

    def arm_element_cost(self, level: str, arm_core: Optional[str] = None) -> Optional[ArmElementCost]:
        """The op's ARM figures on a board of ARM level ``level`` and core ``arm_core``
        (``arm_work.arm_figures``), or None."""
        return arm_figures(self.arm_element, level, arm_core)

    def x86_element_cycles(self, level: str) -> Optional[float]:
        """The x86 version's cycles per element at ``level`` (the nearest level below with a
        figure), or None: not an x86 level, or no figure."""
        if level not in X86_LEVEL_NAMES:
            return None
        for lower in reversed(X86_LEVEL_NAMES[: X86_LEVEL_NAMES.index(level) + 1]):
            if lower in self.x86_element:
                return self.x86_element[lower]
        return None

    def serves(self, precision: Precision, geo: LayerGeometry) -> bool:
        """Whether the kernel runs a layer of shape ``geo`` at ``precision`` (shape and precision
        only: the binary kernels' operand conditions hold once the layer is quantized that way)."""
        return (self.cost is not None and precision.kind in self.cost.kinds
                and precision.weight_bits <= self.cost.max_weight_bits and self.fits(geo))

    def runs(self, geo: LayerGeometry, node, x, w) -> bool:
        """Whether the kernel runs the quantized layer ``node`` (input ``x``, integer weights ``w``)."""
        return self.fits(geo) and (self.operands is None or self.operands(node, x, w))


def _is_conv(geo: LayerGeometry) -> bool:
    return geo.op == "Conv"


def _is_linear(geo: LayerGeometry) -> bool:
    return geo.op == "Linear"


def _is_conv_transpose(geo: LayerGeometry) -> bool:
    return geo.op == "ConvTranspose"


def _ungrouped_conv(geo: LayerGeometry) -> bool:
    """The GEMM and bit-packed kernels read all input channels of a position together: groups 1."""
    return geo.op == "Conv" and geo.groups == 1


def _pointwise(geo: LayerGeometry) -> bool:
    return geo.is_pointwise


def _depthwise(geo: LayerGeometry) -> bool:
    return geo.is_depthwise


def _depthwise_3x3(geo: LayerGeometry) -> bool:
    """Depthwise with multiplier 1, a 2-D 3x3 window, dilation 1."""
    return (geo.is_depthwise and geo.c_out == geo.c_in and tuple(geo.kernel) == (3, 3)
            and all(d == 1 for d in geo.dilation))


def _f32_depthwise(geo: LayerGeometry) -> bool:
    """Depthwise with one output channel per input channel and at most ``F32_DW_MAX_TAPS`` taps."""
    return geo.is_depthwise and geo.c_out == geo.c_in and math.prod(geo.kernel) <= F32_DW_MAX_TAPS


def _im2col_scratch(geo: LayerGeometry, precision: Precision) -> int:
    k_h, k_w = geo.kernel_hw
    return im2col_scratch_bytes(geo.c_in, k_h, k_w, *geo.out_hw, geo.c_out)


def _xnor_scratch(geo: LayerGeometry, precision: Precision) -> int:
    return bitplane_scratch_bytes(geo.c_in, geo.window_extent, geo.kernel_hw, 1)


def _bitserial_scratch(geo: LayerGeometry, precision: Precision) -> int:
    return bitplane_scratch_bytes(geo.c_in, geo.window_extent, geo.kernel_hw, precision.act_bits)


# int8 ops without MACs on the ARM levels: what they count and their cycles (``arm_work.ArmElementCost``),
# fitted by bench/arm/fit_arm_costs.py (rpi4 for ``arm``, rpi5 for ``arm-dotprod``, the Zero 2 W and rpi3
# for their Cortex-A53 keys ``arm@cortex-a53`` and ``arm@cortex-a53-armv7``).
_ARM_ELEMENT: dict = {
    "ec_s8_add": {"arm": ArmElementCost("element", 1.58, 0.0, 73.7), "arm-dotprod": ArmElementCost("element", 1.58, 0.0, 72.8),
                  "arm@cortex-a53": ArmElementCost("element", 5.83, 0.0, 231), "arm@cortex-a53-armv7": ArmElementCost("element", 1.49, 0.0, 126)},
    "ec_s8_mul": {"arm": ArmElementCost("block", 76.9, 0.0, 0.0), "arm-dotprod": ArmElementCost("block", 72.1, 0.0, 0.0),
                  "arm@cortex-a53": ArmElementCost("block", 384, 0.0, 0.0), "arm@cortex-a53-armv7": ArmElementCost("block", 75.9, 0.0, 0.0)},
    "ec_s8_maxpool2d": {"arm": ArmElementCost("window-block", 7.29, 76.9, 2.14e+03), "arm-dotprod": ArmElementCost("window-block", 6.65, 83.9, 2.41e+03),
                        "arm@cortex-a53": ArmElementCost("window-block", 24.3, 232, 5.8e+03), "arm@cortex-a53-armv7": ArmElementCost("window-block", 6.13, 125, 3.63e+03)},
    "ec_s8_avgpool2d": {"arm": ArmElementCost("window-block", 7.89, 0.0, 1.51e+03), "arm-dotprod": ArmElementCost("window-block", 7.48, 0.0, 1.62e+03),
                        "arm@cortex-a53": ArmElementCost("window-block", 29.6, 0.0, 1.37e+03), "arm@cortex-a53-armv7": ArmElementCost("window-block", 11.2, 0.0, 2.69e+03)},
    "ec_s8_global_avgpool": {"arm": ArmElementCost("input", 0.759, 0.0, 290), "arm-dotprod": ArmElementCost("input", 0.759, 0.0, 287),
                             "arm@cortex-a53": ArmElementCost("input", 1.93, 0.0, 564), "arm@cortex-a53-armv7": ArmElementCost("input", 0.711, 0.0, 304)},
    "ec_s8_lut": {"arm": ArmElementCost("element", 1.33, 0.0, 28.5), "arm-dotprod": ArmElementCost("element", 1.33, 0.0, 28.7),
                  "arm@cortex-a53": ArmElementCost("element", 2.51, 0.0, 54.4), "arm@cortex-a53-armv7": ArmElementCost("element", 2.55, 0.0, 8.07)},
    "ec_s8_softmax": {"arm": ArmElementCost("element", 0.0, 0.0, 1.48e+03), "arm-dotprod": ArmElementCost("element", 0.0, 0.0, 1.46e+03),
                      "arm@cortex-a53": ArmElementCost("element", 0.0, 0.0, 3.45e+03), "arm@cortex-a53-armv7": ArmElementCost("element", 0.0, 0.0, 2.43e+03)},
    "ec_s8_quantize": {"arm": ArmElementCost("element", 8.77, 0.0, 16.7), "arm-dotprod": ArmElementCost("element", 8.77, 0.0, 17.2),
                       "arm@cortex-a53": ArmElementCost("element", 10.4, 0.0, 40.6), "arm@cortex-a53-armv7": ArmElementCost("element", 24.2, 0.0, 11.6)},
    "ec_s8_pad": {"arm": ArmElementCost("element", 0.252, 0.0, 137), "arm-dotprod": ArmElementCost("element", 0.241, 0.0, 221),
                  "arm@cortex-a53": ArmElementCost("element", 0.362, 0.0, 243), "arm@cortex-a53-armv7": ArmElementCost("element", 0.25, 0.0, 160)},
    # fp32 ops (portable C as the ARM build compiles it; the max pool's NEON version) and the int8 -> fp32
    # dequantize; one figure for every fp32 activation (fitted on Hardswish and Hardsigmoid layers)
    "ec_f32_add": {"arm": ArmElementCost("element", 6.44, 0.0, 36.1), "arm-dotprod": ArmElementCost("element", 6.45, 0.0, 32.4),
                   "arm@cortex-a53": ArmElementCost("element", 29.4, 0.0, 37.7), "arm@cortex-a53-armv7": ArmElementCost("element", 6.63, 0.0, 0.0)},
    "ec_f32_mul": {"arm": ArmElementCost("element", 6.24, 0.0, 0.0), "arm-dotprod": ArmElementCost("element", 6.24, 0.0, 0.0),
                   "arm@cortex-a53": ArmElementCost("element", 29.3, 0.0, 0.0), "arm@cortex-a53-armv7": ArmElementCost("element", 7.22, 0.0, 0.0)},
    "ec_f32_maxpool2d": {"arm": ArmElementCost("window", 3.18, 0.0, 485), "arm-dotprod": ArmElementCost("window", 3.18, 0.0, 469),
                         "arm@cortex-a53": ArmElementCost("window", 6.9, 0.0, 2.3e+03), "arm@cortex-a53-armv7": ArmElementCost("window", 12.6, 0.0, 1.06e+03)},
    "ec_f32_avgpool2d": {"arm": ArmElementCost("window", 14.4, 0.0, 0.0), "arm-dotprod": ArmElementCost("window", 14.4, 0.0, 0.0),
                         "arm@cortex-a53": ArmElementCost("window", 38.7, 0.0, 0.0), "arm@cortex-a53-armv7": ArmElementCost("window", 15, 0.0, 0.0)},
    "ec_f32_global_avgpool": {"arm": ArmElementCost("input", 5.22, 0.0, 501), "arm-dotprod": ArmElementCost("input", 5.22, 0.0, 501),
                              "arm@cortex-a53": ArmElementCost("input", 9.3, 0.0, 805), "arm@cortex-a53-armv7": ArmElementCost("input", 5.2, 0.0, 472)},
    "ec_f32_activation": {"arm": ArmElementCost("element", 16.7, 0.0, 0.0), "arm-dotprod": ArmElementCost("element", 16.7, 0.0, 0.0),
                          "arm@cortex-a53": ArmElementCost("element", 52.1, 0.0, 0.0), "arm@cortex-a53-armv7": ArmElementCost("element", 10.8, 0.0, 0.0)},
    "ec_f32_softmax": {"arm": ArmElementCost("element", 87.6, 0.0, 15.3), "arm-dotprod": ArmElementCost("element", 87.6, 0.0, 17.3),
                       "arm@cortex-a53": ArmElementCost("element", 167, 0.0, 0.0), "arm@cortex-a53-armv7": ArmElementCost("element", 116, 0.0, 8.82)},
    "ec_s8_dequantize": {"arm": ArmElementCost("element", 4.14, 0.0, 8.07), "arm-dotprod": ArmElementCost("element", 4.14, 0.0, 8.07),
                         "arm@cortex-a53": ArmElementCost("element", 30, 0.0, 16.7), "arm@cortex-a53-armv7": ArmElementCost("element", 3.62, 0.0, 7.07)},
    # fitted alone by bench/arm/fit_resize_costs.py (one-resize models; the call term holds the layer overhead)
    "ec_s8_resize_bilinear": {"arm": ArmElementCost("block", 34.3, 0.0, 1.25e+03),
                              "arm-dotprod": ArmElementCost("block", 34.5, 0.0, 1.23e+03)},
}

# int8 ops without MACs on the x86 levels: cycles per element as select.latency counts the op (outputs,
# inputs or window taps), fitted on whole models' per-layer times by bench/bench_host_latency.py --fit.
_X86_ELEMENT: dict = {
    "ec_s8_add": {"avx2": 0.544, "avx512-vnni": 0.627},  # the same 256-bit affine step at every level
    "ec_s8_avgpool2d": {"avx2": 0.563, "avx512-vnni": 0.224},
    "ec_s8_lut": {"avx2": 0.848, "avx512-vnni": 0.0899},
    "ec_s8_maxpool2d": {"avx2": 0.662, "avx512-vnni": 0.283},
    "ec_s8_mul": {"avx2": 1.34, "avx512-vnni": 1.18},
    "ec_s8_quantize": {"avx2": 1.46, "avx512-vnni": 0.857},
    # the bilinear resizes (int8 and float32) per output element: bench/bench_resize.py's cycles per
    # element at each level (EDGECONV_X86_LEVEL=avx2 for avx2), not the whole-model fit
    "ec_s8_resize_bilinear": {"avx2": 0.47, "avx512-vnni": 0.58},
    "ec_f32_resize_bilinear": {"avx2": 0.45},
}

KERNELS: tuple = (
    # x86: the one-layer grid, ResNet-18-224's 3x3 stages among its shapes (bench_latency_model.py
    # --kernels x86 --levels avx2 --only ec_s8_conv2d_slidingwin, then avx512-vnni); the kernel has no
    # VNNI path, so both levels run it at about 0.08 cycles per MAC
    Kernel("ec_s8_conv2d_slidingwin", "Conv", "sliding-window", "s8", "ec_s8.h",
           "direct convolution sliding over contiguous NHWC window rows; any stride/pad/dilation/groups",
           _is_conv, pack=pack_for_sliding_window,
           cost=KernelCost(INT8_KINDS, "int8", PortableCost(1.78, 45.0), SimdCost(0.48, 20.0, True),
                           x86={"avx2": SimdCost(0.398, 24.0, True), "avx512-vnni": SimdCost(0.193, 26.0, True)},
                           arm={"arm": ArmCost(0.134, 0.0, 0.0, 68.3, 0.0, 0.0, 0.0), "arm-dotprod": ArmCost(0.141, 0.0, 0.0, 66.8, 0.0, 0.0, 0.0),
                                "arm@cortex-a53": ArmCost(0.692, 0.0, 0.0, 178, 0.0, 0.0, 0.0), "arm@cortex-a53-armv7": ArmCost(0.203, 0.0, 0.0, 79.7, 0.0, 0.0, 0.0)}, dense_only=True), split=WEIGHTED_ROWS),
    Kernel("ec_s8_conv2d_im2col", "Conv", "im2col", "s8", "ec_s8.h",
           "packed GEMM over the windows, read in place (<= 9 taps, <= 256 channels) or unfolded by rows; groups 1",
           _ungrouped_conv, scratch=_im2col_scratch, pack=pack_for_im2col,
           cost=KernelCost(INT8_KINDS, "int8", PortableCost(1.92, 0.0), SimdCost(0.52, 12.0, True),
                           traffic=_im2col_traffic, x86={"avx2": SimdCost(0.615, 2.4, True, 0.43, cycles_per_edge_position=110, cycles_per_call=774), "avx512-vnni": SimdCost(1.23, 0.88, True, 5.3, cycles_per_edge_position=79, cycles_per_call=631), "avx512-amx": SimdCost(3.31, 0.18, True, 120.0, cycles_per_call=353)},
                           arm={"arm": ArmCost(0.135, 9.83, 0.0, 6.78, 256, 1.1, 989), "arm-dotprod": ArmCost(0.0383, 24, 0.0, 4.63, 220, 0.598, 1.05e+03),
                                "arm@cortex-a53": ArmCost(0.409, 34, 0.0, 14.5, 703, 3.88, 1.26e+03), "arm@cortex-a53-armv7": ArmCost(0.234, 9.4, 0.0, 13.4, 407, 1.22, 766)}), split=WEIGHTED_ROWS),
    Kernel("ec_s8_conv2d_1x1", "Conv", "1x1", "s8", "ec_s8.h",
           "packed pointwise GEMM; 1x1, stride 1, no padding, groups 1",
           _pointwise, pack=pack_for_pointwise,
           cost=KernelCost(INT8_KINDS, "int8", PortableCost(1.70, 13.0), SimdCost(0.60, 7.0, True),
                           x86={"avx2": SimdCost(0.561, 1.4, True, 5.2, cycles_per_call=93), "avx512-vnni": SimdCost(1.12, 0.45, True, 6.1, cycles_per_call=182), "avx512-amx": SimdCost(2.19, 0.39, True, 19.0)},
                           arm={"arm": ArmCost(0.132, 198, 0.0, 0.0, 163, 0.0, 161), "arm-dotprod": ArmCost(0.035, 251, 0.0, 0.0, 163, 0.0, 122),
                                "arm@cortex-a53": ArmCost(0.433, 357, 0.0, 0.0, 550, 0.0, 704), "arm@cortex-a53-armv7": ArmCost(0.241, 175, 0.0, 0.0, 221, 0.0, 130)}), split=POINTWISE_POSITIONS),
    Kernel("ec_s8_dwconv2d_3x3", "Conv", "depthwise-3x3", "s8", "ec_s8.h",
           "depthwise 3x3, multiplier 1, dilation 1",
           _depthwise_3x3, pack=pack_for_depthwise,
           cost=KernelCost(INT8_KINDS, "int8", PortableCost(1.20, 0.0), SimdCost(0.026, 0.0, True),
                           x86={"avx2": SimdCost(0.132, 0.0, True, 0.0, cycles_per_call=686), "avx512-vnni": SimdCost(0.254, 0.0, True, 25.0, cycles_per_call=769)},
                           arm={"arm": ArmCost(0.379, 0.0, 12.6, 0.0, 607, 0.0, 1.93e+03), "arm-dotprod": ArmCost(0.455, 0.0, 19.9, 0.0, 649, 0.0, 674),
                                "arm@cortex-a53": ArmCost(1.14, 0.0, 56, 0.0, 1.17e+03, 0.0, 5.13e+03), "arm@cortex-a53-armv7": ArmCost(0.628, 0.0, 33.2, 0.0, 494, 0.0, 1.73e+03)}), split=WEIGHTED_ROWS),
    Kernel("ec_s8_dwconv2d_generic", "Conv", "depthwise", "s8", "ec_s8.h",
           "depthwise, any kernel/stride/padding/dilation/multiplier",
           _depthwise, pack=pack_for_depthwise,
           cost=KernelCost(INT8_KINDS, "int8", PortableCost(7.09, 0.0), SimdCost(0.05, 0.0, False),
                           x86={"avx2": SimdCost(0.0642, 0.0, True), "avx512-vnni": SimdCost(0.0469, 0.0, True)},
                           arm={"arm": ArmCost(0.463, 0.0, 261, 0.0, 1.12e+03, 0.0, 255), "arm-dotprod": ArmCost(0.452, 0.0, 283, 0.0, 1.14e+03, 0.0, 230),
                                "arm@cortex-a53": ArmCost(1.74, 0.0, 419, 0.0, 1.9e+03, 0.0, 509), "arm@cortex-a53-armv7": ArmCost(0.547, 0.0, 197, 0.0, 841, 0.0, 230)}), split=WEIGHTED_ROWS),
    Kernel("ec_b1_conv2d_xnor", "Conv", "xnor-popcount", "b1", "ec_b1.h",
           "binary XNOR-popcount on 32-bit packed channels, one-padding; groups 1; int8 or packed input and output",
           _ungrouped_conv, xnor_conv_operands, _xnor_scratch, pack_for_xnor,
           cost=KernelCost(("xnor",), "binary", PortableCost(0.082, 38.0), SimdCost(0.49, 26.0, True),
                           traffic=_bitplane_traffic, x86={"avx2": SimdCost(0.75, 6.5, True), "avx512-vnni": SimdCost(0.305, 3.2, True)},
                           arm={"arm": ArmCost(0.00957, 0.0, 0.0, 6.73, 0.0, 13.7, 254), "arm-dotprod": ArmCost(0.0114, 0.0, 0.0, 5.26, 0.0, 17.4, 0.0),
                                "arm@cortex-a53": ArmCost(0.0295, 0.0, 0.0, 13.6, 0.0, 46.7, 0.0), "arm@cortex-a53-armv7": ArmCost(0.00991, 0.0, 0.0, 7.96, 0.0, 20.5, 698)}), split=WEIGHTED_ROWS),
    Kernel("ec_s8_conv2d_bitserial", "Conv", "bit-serial", "s8", "ec_b1.h",
           "DoReFa bit-plane popcounts, activations <= 8 bits, weights <= 4 bits; groups 1",
           _ungrouped_conv, bitserial_operands, _bitserial_scratch, pack_for_bitserial,
           cost=KernelCost(("dorefa",), "binary", PortableCost(0.063, 184.0), SimdCost(0.40, 184.0, False),
                           traffic=_bitplane_traffic, max_weight_bits=4, x86={"avx2": SimdCost(0.649, 22.0, True), "avx512-vnni": SimdCost(0.959, 10.0, True)}), split=WEIGHTED_ROWS),
    Kernel("ec_f32_conv2d_direct", "Conv", "direct", "f32", "ec_f32.h", "float32 direct convolution",
           _is_conv, pack=pack_f32_direct,
           cost=KernelCost(("fp32",), "fp32", PortableCost(1.08, 75.0), SimdCost(0.30, 74.0, False)), split=WEIGHTED_ROWS),
    Kernel("ec_f32_conv2d_1x1", "Conv", "1x1", "f32", "ec_f32.h",
           "float32 pointwise GEMM, register tiles of positions x 16 channels; 1x1, stride 1, no padding, groups 1",
           _pointwise, pack=pack_f32_gemm,
           cost=KernelCost(("fp32",), "fp32", PortableCost(0.110, 9.0), SimdCost(0.35, 3.6, False),
                           x86={"avx2": SimdCost(0.527, 0.0, True), "avx512-vnni": SimdCost(0.592, 0.0, True)},
                           arm={"arm": ArmCost(0.582, 47.1, 0.0, 9.03, 0.0, 0.0, 169), "arm-dotprod": ArmCost(0.598, 45.5, 0.0, 9.01, 0.0, 0.0, 219),
                                "arm@cortex-a53": ArmCost(0.787, 71.5, 0.0, 29.7, 0.0, 0.0, 719), "arm@cortex-a53-armv7": ArmCost(13.9, 68.7, 0.0, 7.56, 0.0, 0.0, 0.0)}),
           split=POINTWISE_POSITIONS),
    Kernel("ec_f32_conv2d_im2col", "Conv", "im2col", "f32", "ec_f32.h",
           "float32 GEMM over the windows read in place, 16 channels per register block; groups 1",
           _ungrouped_conv, pack=pack_f32_gemm,
           cost=KernelCost(("fp32",), "fp32", PortableCost(0.134, 10.5), SimdCost(0.25, 6.2, False),
                           x86={"avx2": SimdCost(0.232, 0.0, True, 47.0), "avx512-vnni": SimdCost(0.322, 0.0, True, 74.0)},
                           arm={"arm": ArmCost(0.753, 13.4, 0.0, 10.5, 0.0, 0.0, 308), "arm-dotprod": ArmCost(0.816, 12.4, 0.0, 10.5, 0.0, 0.0, 323),
                                "arm@cortex-a53": ArmCost(1.38, 30.8, 0.0, 35.9, 0.0, 0.0, 678), "arm@cortex-a53-armv7": ArmCost(13.9, 18.3, 0.0, 12.2, 0.0, 0.0, 168)}),
           split=WEIGHTED_ROWS),
    Kernel("ec_f32_dwconv2d", "Conv", "depthwise", "f32", "ec_f32.h",
           "float32 depthwise, channels in vector lanes; multiplier 1, <= 64 taps, any stride/padding/dilation",
           _f32_depthwise, pack=pack_f32_depthwise,
           cost=KernelCost(("fp32",), "fp32", PortableCost(5.50, 0.0), SimdCost(0.08, 0.0, False),
                           x86={"avx2": SimdCost(0.142, 0.0, True), "avx512-vnni": SimdCost(0.169, 0.0, True)},
                           arm={"arm": ArmCost(5.26, 0.0, 0.0, 17.2, 326, 0.0, 0.0), "arm-dotprod": ArmCost(5.48, 0.0, 0.0, 17.1, 325, 0.0, 2.4e+03),
                                "arm@cortex-a53": ArmCost(9.8, 0.0, 0.0, 53, 670, 0.0, 0.0), "arm@cortex-a53-armv7": ArmCost(18.6, 0.0, 0.0, 18.6, 357, 0.0, 0.0)}),
           split=WEIGHTED_ROWS),
    Kernel("ec_s8_conv_transpose2d", "ConvTranspose", "transposed-gather", "s8", "ec_s8.h",
           "int8 transposed convolution gathered per output, OHWI weights, no scratch; any groups, dilation 1",
           _is_conv_transpose, pack=pack_for_sliding_window,
           cost=KernelCost(("int8",), "int8", PortableCost(1.62, 43.0), SimdCost(0.48, 20.0, False)), split=WEIGHTED_ROWS),
    Kernel("ec_f32_conv_transpose2d", "ConvTranspose", "transposed-gather", "f32", "ec_f32.h",
           "float32 transposed convolution gathered per output in TFLite's order; any groups, dilation 1",
           _is_conv_transpose, pack=pack_f32_direct,
           cost=KernelCost(("fp32",), "fp32", PortableCost(1.57, 15.0), SimdCost(0.30, 74.0, False)), split=WEIGHTED_ROWS),
    Kernel("ec_s8_fully_connected", "Linear", "fully-connected", "s8", "ec_s8.h",
           "int8 matrix-vector product, packed weights",
           _is_linear,
           cost=KernelCost(INT8_KINDS, "int8", PortableCost(1.69, 0.0), SimdCost(0.69, 20.0, True),
                           x86={"avx2": SimdCost(0.378, 3.5, True), "avx512-vnni": SimdCost(0.466, 2.0, True)},
                           arm={"arm": ArmCost(0.156, 115, 0.0, 0.0, 171, 0.0, 0.0), "arm-dotprod": ArmCost(0.0725, 122, 0.0, 0.0, 183, 0.0, 0.0),
                                "arm@cortex-a53": ArmCost(0.5, 238, 0.0, 0.0, 535, 0.0, 0.0), "arm@cortex-a53-armv7": ArmCost(0.215, 0.0, 0.0, 12.5, 434, 0.0, 0.0)}), split=GEMM_CHANNELS),
    Kernel("ec_b1_fully_connected", "Linear", "xnor-popcount", "b1", "ec_b1.h",
           "binary XNOR-popcount matrix-vector product on packed input words, int8 output",
           _is_linear, binary_operands, split=GEMM_CHANNELS),
    Kernel("ec_f32_fully_connected", "Linear", "fully-connected", "f32", "ec_f32.h", "float32 matrix-vector product",
           _is_linear,
           cost=KernelCost(("fp32",), "fp32", PortableCost(2.12, 0.0), SimdCost(0.35, 0.0, False),
                           arm={"arm": ArmCost(8.83, 0.0, 0.0, 10, 5.07, 0.0, 19.2), "arm-dotprod": ArmCost(8.83, 0.0, 0.0, 9.96, 5.07, 0.0, 19.9),
                                "arm@cortex-a53": ArmCost(10, 0.0, 0.0, 31.6, 16, 0.0, 61.4), "arm@cortex-a53-armv7": ArmCost(14, 0.0, 0.0, 8.86, 4.6, 0.0, 92.6)}), split=GEMM_CHANNELS),
    Kernel("ec_s8_add", "Add", "elementwise", "s8", "ec_s8.h", "TFLite int8 ADD, broadcasting", split=ELEMENT_ROWS,
           arm_element=_ARM_ELEMENT["ec_s8_add"],
           x86_element=_X86_ELEMENT["ec_s8_add"]),
    Kernel("ec_f32_add", "Add", "elementwise", "f32", "ec_f32.h", "float32 add, broadcasting", split=ELEMENT_ROWS,
           arm_element=_ARM_ELEMENT["ec_f32_add"]),
    Kernel("ec_s8_mul", "Mul", "elementwise", "s8", "ec_s8.h", "TFLite int8 MUL, broadcasting", split=ELEMENT_ROWS,
           arm_element=_ARM_ELEMENT["ec_s8_mul"],
           x86_element=_X86_ELEMENT["ec_s8_mul"]),
    Kernel("ec_f32_mul", "Mul", "elementwise", "f32", "ec_f32.h", "float32 multiply, broadcasting", split=ELEMENT_ROWS,
           arm_element=_ARM_ELEMENT["ec_f32_mul"]),
    Kernel("ec_s8_maxpool2d", "MaxPool", "pool", "s8", "ec_s8.h", "int8 max pooling", split=WINDOW_ROWS,
           arm_element=_ARM_ELEMENT["ec_s8_maxpool2d"],
           x86_element=_X86_ELEMENT["ec_s8_maxpool2d"]),
    Kernel("ec_f32_maxpool2d", "MaxPool", "pool", "f32", "ec_f32.h", "float32 max pooling", split=WINDOW_ROWS,
           arm_element=_ARM_ELEMENT["ec_f32_maxpool2d"]),
    Kernel("ec_b1_maxpool2d", "MaxPool", "pool", "b1", "ec_b1.h",
           "max pooling of packed {-1, +1} words between binary layers (AND of the window's bits)", split=WINDOW_ROWS),
    Kernel("ec_s8_avgpool2d", "AvgPool", "pool", "s8", "ec_s8.h", "int8 average pooling, TFLite rounding", split=WINDOW_ROWS,
           arm_element=_ARM_ELEMENT["ec_s8_avgpool2d"],
           x86_element=_X86_ELEMENT["ec_s8_avgpool2d"]),
    Kernel("ec_f32_avgpool2d", "AvgPool", "pool", "f32", "ec_f32.h", "float32 average pooling", split=WINDOW_ROWS,
           arm_element=_ARM_ELEMENT["ec_f32_avgpool2d"]),
    Kernel("ec_s8_global_avgpool", "GlobalAvgPool", "pool", "s8", "ec_s8.h", "TFLite int8 MEAN over H, W",
           arm_element=_ARM_ELEMENT["ec_s8_global_avgpool"]),
    Kernel("ec_f32_global_avgpool", "GlobalAvgPool", "pool", "f32", "ec_f32.h", "float32 mean over H, W",
           arm_element=_ARM_ELEMENT["ec_f32_global_avgpool"]),
    Kernel("ec_s8_lut", "*", "lookup-table", "s8", "ec_s8.h", "any int8 -> int8 elementwise op through a 256-entry table", split=ELEMENTS,
           arm_element=_ARM_ELEMENT["ec_s8_lut"],
           x86_element=_X86_ELEMENT["ec_s8_lut"]),
    Kernel("ec_f32_activation", "*", "elementwise", "f32", "ec_f32.h", "float32 activations", split=ELEMENTS,
           arm_element=_ARM_ELEMENT["ec_f32_activation"]),
    Kernel("ec_s8_softmax", "Softmax", "fixed-point", "s8", "ec_s8.h", "TFLite int8 softmax", split=SOFTMAX_ROWS,
           arm_element=_ARM_ELEMENT["ec_s8_softmax"]),
    Kernel("ec_f32_softmax", "Softmax", "elementwise", "f32", "ec_f32.h", "float32 softmax", split=SOFTMAX_ROWS,
           arm_element=_ARM_ELEMENT["ec_f32_softmax"]),
    Kernel("ec_s8_quantize", "Quantize", "elementwise", "s8", "ec_s8.h", "float32 -> int8", split=ELEMENTS,
           arm_element=_ARM_ELEMENT["ec_s8_quantize"],
           x86_element=_X86_ELEMENT["ec_s8_quantize"]),
    Kernel("ec_s8_dequantize", "Dequantize", "elementwise", "s8", "ec_s8.h", "int8 -> float32", split=ELEMENTS,
           arm_element=_ARM_ELEMENT["ec_s8_dequantize"]),
    Kernel("ec_s8_pad", "Pad", "copy", "s8", "ec_s8.h", "int8 constant padding",
           arm_element=_ARM_ELEMENT["ec_s8_pad"]),
    Kernel("ec_f32_pad", "Pad", "copy", "f32", "ec_f32.h", "float32 constant padding"),
    Kernel("ec_f32_channel_affine", "BatchNorm", "elementwise", "f32", "ec_f32.h", "float32 per-channel scale and shift"),
    Kernel("ec_s8_resize_bilinear", "ResizeBilinear", "bilinear", "s8", "ec_resize.h",
           "TFLite int8 bilinear resize on the codes, from per-row and per-column tap tables", split=RESIZE_ROWS,
           arm_element=_ARM_ELEMENT["ec_s8_resize_bilinear"], x86_element=_X86_ELEMENT["ec_s8_resize_bilinear"]),
    Kernel("ec_f32_resize_bilinear", "ResizeBilinear", "bilinear", "f32", "ec_resize.h",
           "float32 bilinear resize, TFLite's order, from per-row and per-column tap tables", split=RESIZE_ROWS,
           x86_element=_X86_ELEMENT["ec_f32_resize_bilinear"]),
    Kernel("ec_parallel", "*", "threads", "any", "ec_parallel.h",
           "the static thread pool the model's layers run on, and the helpers that cut a layer into tasks"),
    Kernel("ec_layout", "*", "copy", "any", "ec_layout.h",
           "concatenation, slices, transposes, nearest upsampling and channels-last <-> channels-first copies "
           "(ec_concat, ec_slice, ec_transpose, ec_resize_nearest, ec_hwc_to_chw, ec_chw_to_hwc)"),
)

BY_NAME: dict = {k.name: k for k in KERNELS}

# Conv algorithm names (report.json, latency model) -> integer conv kernels.
CONV_ALGORITHMS: dict = {k.algorithm: k.name for k in KERNELS if k.op == "Conv" and k.dtype in ("s8", "b1")}

_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)


def kernel(name: str) -> Kernel:
    """The kernel named ``name``; a UserError names the known ones otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise UserError(f"unknown kernel variant {name!r}; known: {', '.join(BY_NAME)}") from None


def costed_kernels() -> list:
    """The kernels the selector and the latency model can cost (Conv and Linear kernels)."""
    return [k for k in KERNELS if k.cost is not None]


def isas_of(name: str, root: Path | None = None) -> tuple:
    """Kernel sets with a source file for kernel ``name`` (always including ``portable``)."""
    root = root or kernels_dir()
    return tuple(isa for isa in ISAS if (root / isa / f"{name}.c").is_file())


def headers_for(sources, root: Path | None = None) -> list:
    """The ``kernels_c/include`` headers that the C files ``sources`` include, directly or through
    other headers (every ``#include "..."`` counts, whatever preprocessor branch it sits in), sorted."""
    include_dir = (root or kernels_dir()) / "include"
    found: set = set()
    pending = [Path(s).read_text() for s in sources]
    while pending:
        for name in _INCLUDE.findall(pending.pop()):
            if name not in found and (include_dir / name).is_file():
                found.add(name)
                pending.append((include_dir / name).read_text())
    return sorted(found)


def sources_for(names, isa: str = "portable", root: Path | None = None) -> list:
    """Source file of each kernel in ``names`` for ``isa``, falling back to the portable one."""
    root = root or kernels_dir()
    files = []
    for name in names:
        candidate = root / isa / f"{name}.c"
        files.append(candidate if candidate.is_file() else root / "portable" / f"{name}.c")
    return files
