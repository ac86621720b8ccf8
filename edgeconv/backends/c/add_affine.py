"""An int8 ADD as one affine step, for the x86 and NEON kernels (``kernels_c/*/ec_s8_add.c``).

TFLite's int8 ADD (``reference.int_kernels.add_codes``) maps each pair of int8 codes (a, b) to an
int8 code through three roundings. Where one integer step

    out(a, b) = clamp(floor((A * a + B * b + C) / 2^S), act_min, act_max)

gives the same code for all 65536 pairs, the x86 and NEON kernels run that step (x86: two
``vpmaddwd`` per 16 outputs; NEON: four SMLAL per 4) instead of three requantizations. The step is
searched here and checked on every pair; a layer without one keeps the TFLite formula (the
kernels' other path).

Search. For given A and B every pair bounds C: an output strictly inside the clamp range needs
out * 2^S <= A a + B b + C < (out + 1) * 2^S, one at act_min only the upper bound, one at act_max
only the lower one. The width of the interval of C left (least upper bound minus greatest lower
bound) is a concave function of (A, B), a minimum of affine functions minus a maximum of affine
functions, so a pattern search from (alpha * 2^S, beta * 2^S) climbs to its maximum: the exact
function is floor(alpha * a + beta * b + c0 + 1/2) up to its roundings, with alpha = 2^left_shift *
m_a * m_out and beta likewise (the real values of the multipliers), and S as large as the kernel's
16-bit halves allow. A step exists where the widest interval is not empty; C is its middle.

Kernel arithmetic (all in int32): A = a_hi * 2^15 + a_lo with 0 <= a_lo < 2^15 (B and C alike), so
that a_hi, a_lo, b_hi, b_lo are int16 for ``vpmaddwd`` and

    floor((A a + B b + C) / 2^S) = (hi + c_hi + ((lo + c_lo) >> 15)) >> (S - 15),
    hi = a a_hi + b b_hi,  lo = a a_lo + b b_lo,

exact with arithmetic shifts (each is a floor division by a power of two). ``|hi|, |lo| <= 2^23``;
the search refuses an S whose c_hi would not leave int32 room.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ...quant.integer_params import AddMultipliers
from ...reference.int_kernels import add_codes

HALF = 15              # the split of A, B and C into int16 halves
MAX_SHIFT = 30
SEARCH_STEP = 1 << 12    # the pattern search's first step in A and B, halved down to 1
SEARCH_ROUNDS = 400
DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1))


@dataclass(frozen=True)
class AffineAdd:
    """``clamp(floor((a * A + b * B + C) / 2^shift))``, equal to the layer's ADD on every pair."""

    a: int
    b: int
    c: int
    shift: int

    def fields(self) -> dict:
        """The kernel's ``affine_*`` fields of ``ec_s8_add_params_t``."""
        def halves(name: str, value: int) -> dict:
            return {f"affine_{name}_hi": value >> HALF, f"affine_{name}_lo": value & ((1 << HALF) - 1)}

        return {**halves("a", self.a), **halves("b", self.b), **halves("c", self.c), "affine_shift": self.shift}

    def codes(self, a: np.ndarray, b: np.ndarray, act_min: int, act_max: int) -> np.ndarray:
        """The step on codes, in exact integers."""
        v = a.astype(np.int64) * self.a + b.astype(np.int64) * self.b + self.c
        return np.clip(v >> self.shift, act_min, act_max).astype(np.int8)


def _real(multiplier: tuple) -> float:
    q, shift = multiplier
    return q * 2.0 ** (shift - 31)


def affine_add(m: AddMultipliers, zp_a: int, zp_b: int, zp_out: int, act_min: int, act_max: int) -> Optional[AffineAdd]:
    """The affine step of the ADD with multipliers ``m`` and these zero points and clamp, or None
    where no step within the kernel's ranges gives every pair's code."""
    codes = np.arange(-128, 128, dtype=np.int64)
    a, b = (x.ravel() for x in np.meshgrid(codes, codes, indexing="ij"))
    codes_out = add_codes(a, b, m, zp_a, zp_b, zp_out, act_min, act_max)
    exact = codes_out.astype(np.int64)
    alpha = 2.0 ** m.left_shift * _real(m.a) * _real(m.out)
    beta = 2.0 ** m.left_shift * _real(m.b) * _real(m.out)
    c0 = zp_out - alpha * zp_a - beta * zp_b + 0.5
    steepest = max(abs(alpha), abs(beta), 2.0 ** -MAX_SHIFT)
    # |A|, |B| < 2^(2 * HALF - 1): their high halves are int16
    shift = min(MAX_SHIFT, int(np.floor(np.log2(2.0 ** (2 * HALF - 1) / steepest))) - 1)
    if shift < HALF or abs(c0) * 2.0 ** (shift - HALF) >= 2.0 ** 28:
        return None
    inside = (exact > act_min) & (exact < act_max)
    lower = np.where(inside | (exact >= act_max), exact << shift, np.iinfo(np.int64).min // 2)
    upper = np.where(inside | (exact <= act_min), ((exact + 1) << shift) - 1, np.iinfo(np.int64).max // 2)

    def interval(big_a: int, big_b: int) -> tuple:
        v = a * big_a + b * big_b
        return int((lower - v).max()), int((upper - v).min())

    def width(point: tuple) -> int:
        lo_c, hi_c = interval(*point)
        return hi_c - lo_c

    point = (int(round(alpha * 2 ** shift)), int(round(beta * 2 ** shift)))
    widest, move = width(point), SEARCH_STEP
    for _ in range(SEARCH_ROUNDS):
        moves = [(point[0] + da * move, point[1] + db * move) for da, db in DIRECTIONS]
        widths = [width(candidate) for candidate in moves]
        if max(widths) > widest:
            widest = max(widths)
            point = moves[widths.index(widest)]
        elif move > 1:
            move //= 2
        else:
            break
    if widest < 0 or max(abs(point[0]), abs(point[1])) >= 2 ** (2 * HALF - 1):
        return None
    lo_c, hi_c = interval(*point)
    step = AffineAdd(*point, (lo_c + hi_c) // 2, shift)
    if not np.array_equal(step.codes(a, b, act_min, act_max), codes_out):
        return None
    return step
