"""The one list of C kernel variants: it feeds the code generator, the build, the kernel tests and
the latency table.

Each variant is one C function, defined in ``kernels_c/portable/<name>.c`` (always built) and
optionally in ``kernels_c/x86/<name>.c`` (AVX2, or AVX-512 VNNI where the compiler targets it) and ``kernels_c/arm/<name>.c`` (NEON) with the same
name; the build picks the file of the instruction set it compiles for (see ``sources_for``).
``algorithm`` is the short name reported per layer in ``report.json`` and used by the latency model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...resources import kernels_dir

ISAS = ("portable", "x86", "arm")


@dataclass(frozen=True)
class KernelVariant:
    """One C kernel: its function (and file) name, the IR op it runs and how."""

    name: str
    op: str
    algorithm: str
    dtype: str          # "s8" int8, "b1" packed bits, "f32" float, "any" raw bytes
    header: str         # the kernels_c/include header declaring it
    scratch: bool       # needs a scratch buffer planned in the arena
    description: str


VARIANTS: tuple = (
    KernelVariant("ec_s8_conv2d_slidingwin", "Conv", "sliding-window", "s8", "ec_s8.h", False,
                  "direct convolution sliding over contiguous NHWC window rows; any stride/pad/dilation/groups"),
    KernelVariant("ec_s8_conv2d_im2col", "Conv", "im2col", "s8", "ec_s8.h", True,
                  "packed GEMM over the windows, read in place (<= 9 taps, <= 256 channels) or unfolded by rows; groups 1"),
    KernelVariant("ec_s8_conv2d_1x1", "Conv", "1x1", "s8", "ec_s8.h", False,
                  "packed pointwise GEMM; 1x1, stride 1, no padding, groups 1"),
    KernelVariant("ec_s8_dwconv2d_3x3", "Conv", "depthwise-3x3", "s8", "ec_s8.h", False,
                  "depthwise 3x3, multiplier 1, dilation 1"),
    KernelVariant("ec_s8_dwconv2d_generic", "Conv", "depthwise", "s8", "ec_s8.h", False,
                  "depthwise, any kernel/stride/padding/dilation/multiplier"),
    KernelVariant("ec_b1_conv2d_xnor", "Conv", "xnor-popcount", "b1", "ec_b1.h", True,
                  "binary XNOR-popcount on 32-bit packed channels, one-padding; groups 1; int8 or packed "
                  "input and output"),
    KernelVariant("ec_s8_conv2d_bitserial", "Conv", "bit-serial", "s8", "ec_b1.h", True,
                  "DoReFa bit-plane popcounts, activations <= 8 bits, weights <= 4 bits; groups 1"),
    KernelVariant("ec_f32_conv2d_direct", "Conv", "direct", "f32", "ec_f32.h", False,
                  "float32 direct convolution"),
    KernelVariant("ec_s8_fully_connected", "Linear", "fully-connected", "s8", "ec_s8.h", False,
                  "int8 matrix-vector product, packed weights"),
    KernelVariant("ec_b1_fully_connected", "Linear", "xnor-popcount", "b1", "ec_b1.h", False,
                  "binary XNOR-popcount matrix-vector product on packed input words, int8 output"),
    KernelVariant("ec_f32_fully_connected", "Linear", "fully-connected", "f32", "ec_f32.h", False,
                  "float32 matrix-vector product"),
    KernelVariant("ec_s8_add", "Add", "elementwise", "s8", "ec_s8.h", False, "TFLite int8 ADD, broadcasting"),
    KernelVariant("ec_f32_add", "Add", "elementwise", "f32", "ec_f32.h", False, "float32 add, broadcasting"),
    KernelVariant("ec_s8_mul", "Mul", "elementwise", "s8", "ec_s8.h", False, "TFLite int8 MUL, broadcasting"),
    KernelVariant("ec_f32_mul", "Mul", "elementwise", "f32", "ec_f32.h", False, "float32 multiply, broadcasting"),
    KernelVariant("ec_s8_maxpool2d", "MaxPool", "pool", "s8", "ec_s8.h", False, "int8 max pooling"),
    KernelVariant("ec_f32_maxpool2d", "MaxPool", "pool", "f32", "ec_f32.h", False, "float32 max pooling"),
    KernelVariant("ec_b1_maxpool2d", "MaxPool", "pool", "b1", "ec_b1.h", False,
                  "max pooling of packed {-1, +1} words between binary layers (AND of the window's bits)"),
    KernelVariant("ec_s8_avgpool2d", "AvgPool", "pool", "s8", "ec_s8.h", False, "int8 average pooling, TFLite rounding"),
    KernelVariant("ec_f32_avgpool2d", "AvgPool", "pool", "f32", "ec_f32.h", False, "float32 average pooling"),
    KernelVariant("ec_s8_global_avgpool", "GlobalAvgPool", "pool", "s8", "ec_s8.h", False, "TFLite int8 MEAN over H, W"),
    KernelVariant("ec_f32_global_avgpool", "GlobalAvgPool", "pool", "f32", "ec_f32.h", False, "float32 mean over H, W"),
    KernelVariant("ec_s8_lut", "*", "lookup-table", "s8", "ec_s8.h", False,
                  "any int8 -> int8 elementwise op through a 256-entry table"),
    KernelVariant("ec_f32_activation", "*", "elementwise", "f32", "ec_f32.h", False, "float32 activations"),
    KernelVariant("ec_s8_softmax", "Softmax", "fixed-point", "s8", "ec_s8.h", False, "TFLite int8 softmax"),
    KernelVariant("ec_f32_softmax", "Softmax", "elementwise", "f32", "ec_f32.h", False, "float32 softmax"),
    KernelVariant("ec_s8_quantize", "Quantize", "elementwise", "s8", "ec_s8.h", False, "float32 -> int8"),
    KernelVariant("ec_s8_dequantize", "Dequantize", "elementwise", "s8", "ec_s8.h", False, "int8 -> float32"),
    KernelVariant("ec_s8_pad", "Pad", "copy", "s8", "ec_s8.h", False, "int8 constant padding"),
    KernelVariant("ec_f32_pad", "Pad", "copy", "f32", "ec_f32.h", False, "float32 constant padding"),
    KernelVariant("ec_f32_channel_affine", "BatchNorm", "elementwise", "f32", "ec_f32.h", False,
                  "float32 per-channel scale and shift"),
    KernelVariant("ec_layout", "*", "copy", "any", "ec_layout.h", False,
                  "concatenation and channels-last <-> channels-first copies (ec_concat, ec_hwc_to_chw, ec_chw_to_hwc)"),
)

BY_NAME: dict = {v.name: v for v in VARIANTS}

HEADERS = ("ec_common.h", "ec_s8.h", "ec_s8_packed.h", "ec_s8_dwconv.h", "ec_im2col.h", "ec_b1_xnor.h", "ec_b1_popcount.h", "ec_b1.h", "ec_f32.h",
           "ec_layout.h", "ec_x86_avx2.h", "ec_x86_avx512.h", "ec_x86_gemm.h", "ec_x86_dw.h", "ec_arm_neon.h", "ec_arm_gemm.h")


def variant(name: str) -> KernelVariant:
    return BY_NAME[name]


def variants_for(op: str) -> list:
    """Variants implementing IR op ``op`` (exact op name, not the generic ``*`` ones)."""
    return [v for v in VARIANTS if v.op == op]


def isas_of(name: str, root: Path | None = None) -> tuple:
    """Instruction sets with a source file for kernel ``name`` (always including ``portable``)."""
    root = root or kernels_dir()
    return tuple(isa for isa in ISAS if (root / isa / f"{name}.c").is_file())


def sources_for(names, isa: str = "portable", root: Path | None = None) -> list:
    """Source file of each kernel in ``names`` for ``isa``, falling back to the portable one."""
    root = root or kernels_dir()
    files = []
    for name in names:
        candidate = root / isa / f"{name}.c"
        files.append(candidate if candidate.is_file() else root / "portable" / f"{name}.c")
    return files
