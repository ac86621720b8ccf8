"""Per-layer candidates: which (precision, kernel variant) pairs can run a Conv or Linear layer.

This module holds the one table of kernel variants the selector and the latency model use
(``KERNEL_VARIANTS``), with the shapes each variant accepts, the precision class whose peak it runs
at, and the fraction of that peak it is assumed to reach.

Precisions (DESIGN §3): ``fp32``; ``int8``; ``wKaM`` DoReFa (K-bit weights, M-bit activations);
``w1a1`` XNOR. A low-bit layer is also an ordinary int8 layer whose values take few levels, so
every int8 kernel runs it exactly, at int8 speed; the bit-serial and XNOR kernels compute the same
int32 accumulators from bit planes with popcounts.

Each variant has cost models for its versions. ``portable`` is the measured cost of its portable C
version (always built; see :class:`PortableCost`). ``simd`` applies when a SIMD version exists for
the target's instruction set (``kernels_c/arm`` or ``kernels_c/x86``): a share of the precision's
peak MAC rate (targets/*.toml ``[[peak]]``) plus a per-output cost (:class:`SimdCost`); ``x86``,
where given, replaces it for the x86 versions. The ``simd`` int8 and XNOR shares were measured on
the first (AVX2) x86 versions and are assumed for the NEON ones; the ``x86`` figures are measured on
the current x86 kernels built for AVX-512 VNNI (``bench/bench_latency_model.py --kernels x86``, AMD
EPYC at a nominal 2.6 GHz, 2026-11-22; im2col reaches the nominal-clock VNNI peak because the core
runs above its nominal clock, so its share is capped at 1.0; the fully connected kernel's calls are
too short to time and keep an assumed 0.5). The others, for kernels without a SIMD version, are
assumptions:

- fp32 direct conv 30% and fully connected 35% of the fp32 peak (below the 50-80% of tuned GEMM
  libraries such as ruy or XNNPACK);
- generic depthwise 5% of the int8 peak (depthwise does K*K MACs per loaded input; the measured
  3x3 version reaches 2.6%);
- bit-serial 40% of the binary peak, as XNOR (same popcount loop, K*M passes).

A measured table for the board (``edgeconv profile``) replaces all of these.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import UserError
from ..ir import Graph, Node

# ---- precisions -------------------------------------------------------------------------------

_LOWBIT = re.compile(r"^w([1-7])a([1-8])$")


@dataclass(frozen=True)
class Precision:
    """A layer precision. ``kind``: ``fp32``, ``int8``, ``dorefa`` (wKaM) or ``xnor`` (w1a1)."""

    name: str
    kind: str
    weight_bits: int
    act_bits: int

    @property
    def is_float(self) -> bool:
        return self.kind == "fp32"


def parse_precision(name: str) -> Precision:
    """``fp32``, ``int8``, ``wKaM`` (K in 1..7, M in 1..8) or ``w1a1``; anything else is a UserError."""
    if name == "fp32":
        return Precision(name, "fp32", 32, 32)
    if name in ("int8", "w8a8"):
        return Precision("int8", "int8", 8, 8)
    match = _LOWBIT.match(name)
    if not match:
        raise UserError(f"unknown precision {name!r}; use fp32, int8, wKaM (K in 1..7, M in 1..8) or w1a1")
    k, m = int(match.group(1)), int(match.group(2))
    return Precision(name, "xnor" if (k, m) == (1, 1) else "dorefa", k, m)


# ---- layer geometry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerGeometry:
    """The shape facts of a Conv (1-D convs are seen as H = 1) or Linear layer, batch 1."""

    op: str
    c_in: int
    c_out: int
    groups: int
    kernel: tuple
    stride: tuple
    pads: tuple
    dilation: tuple
    in_spatial: tuple
    out_spatial: tuple
    has_bias: bool

    @property
    def out_positions(self) -> int:
        return math.prod(self.out_spatial)

    @property
    def reduction(self) -> int:
        """Products summed per output value: ``C_in / groups * prod(kernel)``."""
        return self.c_in // self.groups * math.prod(self.kernel)

    @property
    def macs(self) -> int:
        return self.c_out * self.out_positions * self.reduction

    @property
    def params(self) -> int:
        return self.c_out * self.reduction

    @property
    def is_depthwise(self) -> bool:
        return self.op == "Conv" and self.groups > 1 and self.groups == self.c_in == self.c_out

    @property
    def is_pointwise(self) -> bool:
        """1x1, stride 1, no padding, groups 1: a plain GEMM over positions."""
        return (
            self.op == "Conv" and self.groups == 1 and all(k == 1 for k in self.kernel)
            and all(s == 1 for s in self.stride) and not any(self.pads)
        )

    @property
    def in_numel(self) -> int:
        return self.c_in * math.prod(self.in_spatial)

    @property
    def out_numel(self) -> int:
        return self.c_out * self.out_positions


def geometry(graph: Graph, node: Node) -> LayerGeometry:
    """Geometry of a Conv or Linear node from its tensors' shapes."""
    x = graph.tensors[node.inputs[0]].shape
    w = graph.tensors[node.inputs[1]].shape
    out = graph.tensors[node.output].shape
    has_bias = len(node.inputs) > 2 and node.inputs[2] is not None
    if node.op_name == "Linear":
        return LayerGeometry("Linear", w[1], w[0], 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), (1, 1), (1, 1), has_bias)
    if node.op_name != "Conv":
        raise ValueError(f"node {node.name} ({node.op_name}) has no weights")
    op = node.op
    return LayerGeometry(
        "Conv", x[1], w[0], op.groups, tuple(w[2:]), tuple(op.stride), tuple(op.pads), tuple(op.dilation),
        tuple(x[2:]), tuple(out[2:]), has_bias,
    )


# ---- kernel variants --------------------------------------------------------------------------

INT8_KINDS = ("int8", "dorefa", "xnor")  # every quantized layer runs exactly on the int8 kernels


@dataclass(frozen=True)
class PortableCost:
    """Cycles of the portable C kernel: ``cycles_per_mac * MACs * passes + cycles_per_output * outputs``.

    Measured, not assumed: ``bench/bench_latency_model.py --kernels portable`` fits both figures
    per variant by non-negative least squares over one-layer models timed (CPU time) on the build
    machine: AMD EPYC x86-64 at 2.6 GHz, gcc 12.2 ``-O2 -march=native``, 2026-11-21. Other cores
    scale them by their ``[latency] portable_cycle_scale``.
    """

    cycles_per_mac: float
    cycles_per_output: float


@dataclass(frozen=True)
class SimdCost:
    """A SIMD version's cycles: ``MACs * passes / (peak * share_of_peak) + cycles_per_output * outputs``.

    ``peak`` is the target's ``[[peak]]`` figure for the kernel's class; ``cycles_per_output`` (the
    scalar requantization and store) is scaled by ``portable_cycle_scale``. ``measured``: both
    figures come from ``bench/bench_latency_model.py --kernels x86`` on the build machine (AVX2
    kernels against the AVX2 peak, same machine and date as :class:`PortableCost`) and the share is
    assumed to carry over to the NEON version; otherwise they are assumptions (module docstring).
    """

    share_of_peak: float
    cycles_per_output: float
    measured: bool


@dataclass(frozen=True)
class KernelVariant:
    """One C kernel: the layer precisions it serves, its peak class, and the cost of its portable
    and SIMD versions."""

    name: str
    kinds: tuple            # precision kinds it runs (see Precision.kind)
    peak: str               # "fp32" | "int8" | "binary": which [[peak]] figure bounds it
    portable: PortableCost  # the portable C version, measured
    simd: SimdCost          # a SIMD version (used where kernels_c/<isa>/<name>.c exists)
    fits: Callable[[LayerGeometry], bool]
    scratch_bytes: Callable[[LayerGeometry, Precision], int]  # written to scratch and read back, per call
    max_weight_bits: int = 32
    x86: Optional[SimdCost] = None  # the x86 version's cost, where measured apart from ``simd``

    def simd_cost(self, isa: str) -> SimdCost:
        """The SIMD cost model for kernels_c/<isa>."""
        return self.x86 if isa == "x86" and self.x86 is not None else self.simd

    def serves(self, precision: Precision, geo: LayerGeometry) -> bool:
        return precision.kind in self.kinds and precision.weight_bits <= self.max_weight_bits and self.fits(geo)


def _no_scratch(geo: LayerGeometry, precision: Precision) -> int:
    return 0


def _im2col_bytes(geo: LayerGeometry, precision: Precision) -> int:
    """The unfolded patches, ``C_in * prod(kernel)`` bytes per output position, when the kernel
    unfolds; none when it reads the taps in place (``im2col_indirect`` of the C backend)."""
    from ..backends.c.lowering import im2col_indirect

    k_h, k_w = (1,) * (2 - len(geo.kernel)) + tuple(geo.kernel)  # a 1-D conv runs as 1 x k
    if im2col_indirect(geo.c_in, k_h, k_w):
        return 0
    return geo.reduction * geo.out_positions


def _bitplane_bytes(geo: LayerGeometry, precision: Precision) -> int:
    """Input activations packed to M bit planes of C_in bits per input position."""
    planes = 1 if precision.kind == "xnor" else precision.act_bits
    return planes * math.ceil(geo.c_in / 8) * math.prod(geo.in_spatial)


def _is_conv(geo: LayerGeometry) -> bool:
    return geo.op == "Conv"


def _dense_conv(geo: LayerGeometry) -> bool:
    return geo.op == "Conv" and not geo.is_depthwise


def _ungrouped_conv(geo: LayerGeometry) -> bool:
    """Bit-packed kernels pack all input channels of a position together: groups = 1 only."""
    return geo.op == "Conv" and geo.groups == 1


def _depthwise_3x3(geo: LayerGeometry) -> bool:
    return geo.is_depthwise and geo.kernel == (3, 3) and all(d == 1 for d in geo.dilation)


# Names, ops and shape limits follow the C backend's variant list (edgeconv/backends/c/variants.py).
_VARIANT_LIST = (
    KernelVariant("ec_f32_conv2d_direct", ("fp32",), "fp32", PortableCost(1.47, 74.0), SimdCost(0.30, 74.0, False),
                  _is_conv, _no_scratch),
    KernelVariant("ec_f32_fully_connected", ("fp32",), "fp32", PortableCost(2.12, 0.0), SimdCost(0.35, 0.0, False),
                  lambda g: g.op == "Linear", _no_scratch),
    KernelVariant("ec_s8_conv2d_slidingwin", INT8_KINDS, "int8", PortableCost(1.78, 45.0), SimdCost(0.48, 20.0, True),
                  _dense_conv, _no_scratch, x86=SimdCost(0.24, 20.0, True)),
    KernelVariant("ec_s8_conv2d_im2col", INT8_KINDS, "int8", PortableCost(1.92, 0.0), SimdCost(0.52, 12.0, True),
                  _ungrouped_conv, _im2col_bytes, x86=SimdCost(1.08, 2.6, True)),
    KernelVariant("ec_s8_conv2d_1x1", INT8_KINDS, "int8", PortableCost(1.70, 13.0), SimdCost(0.60, 7.0, True),
                  lambda g: g.is_pointwise, _no_scratch, x86=SimdCost(1.12, 1.3, True)),
    KernelVariant("ec_s8_dwconv2d_3x3", INT8_KINDS, "int8", PortableCost(1.20, 0.0), SimdCost(0.026, 0.0, True),
                  _depthwise_3x3, _no_scratch, x86=SimdCost(0.107, 0.0, True)),
    KernelVariant("ec_s8_dwconv2d_generic", INT8_KINDS, "int8", PortableCost(7.09, 0.0), SimdCost(0.05, 0.0, False),
                  lambda g: g.is_depthwise, _no_scratch, x86=SimdCost(0.084, 0.0, True)),
    KernelVariant("ec_s8_fully_connected", INT8_KINDS, "int8", PortableCost(1.69, 0.0), SimdCost(0.69, 20.0, True),
                  lambda g: g.op == "Linear", _no_scratch, x86=SimdCost(0.5, 0.0, False)),
    KernelVariant("ec_b1_conv2d_xnor", ("xnor",), "binary", PortableCost(0.082, 38.0), SimdCost(0.49, 26.0, True),
                  _ungrouped_conv, _bitplane_bytes, x86=SimdCost(0.87, 2.4, True)),
    KernelVariant("ec_s8_conv2d_bitserial", ("dorefa",), "binary", PortableCost(0.063, 184.0),
                  SimdCost(0.40, 184.0, False), _ungrouped_conv, _bitplane_bytes, max_weight_bits=4,
                  x86=SimdCost(0.40, 0.1, True)),
)

KERNEL_VARIANTS: dict = {v.name: v for v in _VARIANT_LIST}


def variant(name: str) -> KernelVariant:
    try:
        return KERNEL_VARIANTS[name]
    except KeyError:
        raise UserError(f"unknown kernel variant {name!r}; known: {', '.join(KERNEL_VARIANTS)}") from None


def variants_for(geo: LayerGeometry, precision: Precision) -> list:
    """Every kernel variant that can run a layer of geometry ``geo`` at ``precision``."""
    return [v for v in _VARIANT_LIST if v.serves(precision, geo)]


def popcount_passes(precision: Precision, kernel: KernelVariant) -> int:
    """Binary-popcount passes per MAC: K*M bit-plane pairs for bit-serial, 1 for XNOR, else 1."""
    if kernel.name == "ec_s8_conv2d_bitserial":
        return precision.weight_bits * precision.act_bits
    return 1


def weight_bytes(geo: LayerGeometry, precision: Precision, kernel: KernelVariant) -> int:
    """Bytes of constant data the layer stores: weights as the kernel packs them, bias, multipliers.

    fp32: 4-byte weights and bias. int8 kernels: 1-byte weights, int32 bias, and a per-channel
    requantization multiplier and shift (8 bytes). XNOR: one bit per weight (rows padded to bytes)
    plus bias and multipliers. Bit-serial: K bit planes of the weights.
    """
    if precision.is_float:
        return 4 * (geo.params + (geo.c_out if geo.has_bias else 0))
    per_channel = 4 * geo.has_bias + 8
    if kernel.peak == "binary":
        planes = 1 if precision.kind == "xnor" else precision.weight_bits
        return geo.c_out * (planes * math.ceil(geo.reduction / 8) + per_channel)
    return geo.params + geo.c_out * per_channel


def activation_bytes(precision: Optional[Precision]) -> int:
    """Bytes per activation element: float32 for fp32 layers, int8 for every quantized one."""
    return 4 if precision is not None and precision.is_float else 1
