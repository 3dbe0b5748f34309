"""Bit-level reference of the float MACs: minifloat operands or float32 operands, float32 or exact sums.

Float32 arithmetic here is numpy's binary32, which is IEEE 754 with round to
nearest even; the RTL must equal it bit for bit.
"""

from dataclasses import dataclass

import numpy as np
import torch

from ..formats import FLOAT32, Minifloat, from_dict
from .integer import IntAccumulator, _lane_sum, as_codes, int_trace
from .lanes import check_lanes, f32_tree, tree_depth

__all__ = ["QNAN", "Float32MacConfig", "MinifloatMacConfig", "f32_bits", "f32_from_bits", "f32_multiply"]


QNAN = 0x7FC00000  #: the one NaN the float units produce (payloads are not kept)


def f32_bits(x):
    """Bit patterns (int64 numpy) of float32 values; every NaN becomes the quiet NaN 0x7FC00000."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(np.isnan(x), QNAN, FLOAT32.encode(x))


def f32_from_bits(bits):
    """Float32 values (numpy) of bit patterns."""
    return FLOAT32.decode(np.asarray(bits, dtype=np.int64))


def f32_multiply(a, b):
    """Float32 product with flush-to-zero semantics (the baseline multiplier).

    Subnormal inputs count as zero (DAZ); the product is rounded to 24
    significant bits, nearest even, with an unbounded exponent; results below
    2**-126 become a signed zero (FTZ), above the largest float32 ±inf. Inf and
    NaN follow IEEE (inf × 0 is NaN).
    """
    a = np.asarray(a, np.float32).astype(np.float64)
    b = np.asarray(b, np.float32).astype(np.float64)
    tiny = 2.0**-126
    a = np.where(np.abs(a) < tiny, np.copysign(0.0, a), a)
    b = np.where(np.abs(b) < tiny, np.copysign(0.0, b), b)
    with np.errstate(invalid="ignore", over="ignore"):
        p = a * b  # exact: 48 significant bits fit in binary64
        # rounding far from the subnormal range gives the unbounded-exponent rounding
        scaled = (p * 2.0**200).astype(np.float32).astype(np.float64) * 2.0**-200
        small = np.abs(p) < 2.0**-100
        r = np.where(small, scaled, p.astype(np.float32).astype(np.float64))
        r = np.where(np.abs(r) < tiny, np.copysign(0.0, p), r)
    return r.astype(np.float32)


def _f32_trace(p, valid, clear, bias=None):
    """Float32 accumulator after each edge: clear restarts with this product (or +0).

    With a bias preload (``bias``: float32 bit patterns), clear restarts with
    ``bias + product`` (one IEEE addition) or ``bias``.
    """
    acc, out = np.float32(0.0), []
    b_vals = None if bias is None else f32_from_bits(bias).tolist()
    with np.errstate(over="ignore", invalid="ignore"):
        for k, (pk, v, c) in enumerate(zip(p.tolist(), np.asarray(valid).tolist(), np.asarray(clear).tolist(),
                                           strict=True)):
            pk = np.float32(pk)
            if c and b_vals is not None:
                b = np.float32(b_vals[k])
                acc = np.float32(b + pk) if v else b
            elif c:
                acc = pk if v else np.float32(0.0)
            elif v:
                acc = np.float32(acc + pk)
            out.append(acc)
    return np.array(out, dtype=np.float32)


@dataclass(frozen=True)
class MinifloatMacConfig:
    """A minifloat MAC: exact product, float32 (``accumulator="fp32"``) or exact fixed-point sum.

    Parameters
    ----------
    a, w, out : Minifloat
        Operand and output formats without infinities (``inf_nan=False``);
        subnormals are allowed, and the OCP ``fn`` encoding (float8_e4m3fn and
        its power-of-two scaled forms: a NaN code, saturating) with the float32
        accumulator: a NaN operand makes the sum NaN, a NaN sum the output's
        NaN code (+NaN), and ±inf saturates.
    accumulator : str
        ``fp32``: an IEEE binary32 adder, round to nearest even (the paper's
        MAC). ``exact``: a two's complement fixed-point accumulator of
        ``acc_bits`` bits whose LSB is the smallest product quantum; it never
        rounds (overflow follows ``overflow``).
    acc_bits : int
        Width of the exact accumulator (ignored for fp32), at most 53.
    overflow : str
        ``wrap`` or ``saturate`` for the exact accumulator.
    lanes : int
        Products per cycle, summed by the unit's adder tree (float32 adders
        for ``fp32``, rounding at each node in ``ristretto.datapath.lanes``'s
        order; exact for ``exact``).

    Raises
    ------
    ValueError
        If a product of the operand formats could leave float32's normal
        range or need more than 24 significant bits.
    """

    a: Minifloat
    w: Minifloat
    out: Minifloat
    accumulator: str = "fp32"
    acc_bits: int = 48
    overflow: str = "wrap"
    lanes: int = 1

    family = "minifloat"

    def __post_init__(self):
        for name in ("a", "w", "out"):
            fmt = getattr(self, name)
            if not isinstance(fmt, Minifloat):
                raise TypeError(f"{name} must be a Minifloat, not {fmt!r}")
            if fmt.inf_nan or fmt.special not in (None, "fn") or not fmt.saturating:
                raise ValueError(f"{name} must have no inf codes (inf_nan=False) and no special codes but OCP 'fn' "
                                 f"(saturating), not {fmt!r}")
        if self.accumulator not in ("fp32", "exact"):
            raise ValueError(f"accumulator must be 'fp32' or 'exact', not {self.accumulator!r}")
        if self.accumulator == "exact" and any(f.special for f in (self.a, self.w, self.out)):
            raise ValueError("OCP 'fn' formats have a NaN code, which an exact fixed-point sum cannot hold: use "
                             "accumulator 'fp32'")
        object.__setattr__(self, "lanes", check_lanes(self.lanes))
        sig = self.a.man_bits + self.w.man_bits + 2
        if sig > 24:
            raise ValueError(f"Products of {self.a.slug} and {self.w.slug} have {sig} significant bits, "
                             "more than float32's 24; narrow the mantissas")
        lo = self.a.min_positive * self.w.min_positive
        hi = self.a.max_value * self.w.max_value
        if lo < 2.0**-126 or hi >= 2.0**128:
            raise ValueError(f"Products of {self.a.slug} and {self.w.slug} span {lo:g} .. {hi:g}, outside "
                             "float32's normal range [2**-126, 2**128); choose other biases")
        if self.accumulator == "exact":
            need = self.product_bits
            if need > 53:
                raise ValueError(f"Exact accumulation of {self.a.slug} x {self.w.slug} products needs at least {need} "
                                 "bits, more than the 53 supported; use accumulator 'fp32' or narrower exponents")
            if isinstance(self.acc_bits, bool) or not isinstance(self.acc_bits, int) or \
                    not need <= self.acc_bits <= 53:
                raise ValueError(f"Exact accumulator width must be an integer in [{need}, 53] for {self.a.slug} x "
                                 f"{self.w.slug} (one product takes {need} bits), not {self.acc_bits!r}")
            IntAccumulator(self.acc_bits, 0, self.overflow)

    # -- derived ---------------------------------------------------------------
    @property
    def product_frac_bits(self):
        """Fractional bits of the exact accumulator: the smallest product quantum is 2**-this."""
        # the smallest binade's quantum, with or without subnormals
        return -(self.a.lsb_exp + self.w.lsb_exp)

    @property
    def product_bits(self):
        """Signed width of the largest product as an exact fixed-point integer."""
        top = int(self.a.max_value * self.w.max_value * 2.0**self.product_frac_bits)
        return top.bit_length() + 1

    @property
    def tree_bits(self):
        """Width of the exact adder tree's sum of ``lanes`` products (``exact`` accumulator)."""
        return self.product_bits + tree_depth(self.lanes)

    @property
    def acc(self):
        """The integer accumulator description (exact mode only)."""
        return IntAccumulator(self.acc_bits, self.product_frac_bits, self.overflow)

    def operand_ints(self, a, w):
        """Activation and weight values as integers at the exact accumulator's scale (float64 tensors).

        ``a * 2**fa`` and ``w * 2**fw`` with ``fa + fw = product_frac_bits``:
        their products are the exact accumulator's product codes.
        """
        return self.value_ints(self.a.decode(as_codes(a)), self.w.decode(as_codes(w)))

    def value_ints(self, a_values, w_values):
        """``operand_ints`` of values already in the operand formats (``decode(encode(x))``, i.e. ``quantize(x)``)."""
        fa, fw = -self.a.lsb_exp, -self.w.lsb_exp
        return a_values.double() * 2.0**fa, w_values.double() * 2.0**fw

    # -- the datapath ----------------------------------------------------------
    def products(self, a, w):
        """Exact products as float32 (``fp32``) or accumulator integers (``exact``)."""
        p = self.a.decode(as_codes(a)).double() * self.w.decode(as_codes(w)).double()
        if self.accumulator == "fp32":
            return p.float().numpy()
        return torch.round(p * 2.0**self.product_frac_bits).to(torch.int64)

    def lane_sums(self, a, w):
        """The adder tree's sum per cycle (float32, or exact integers); operands ``[cycles(, lanes)]``."""
        p = self.products(a, w)
        if self.accumulator == "fp32":
            return _f32_lanes(p, self.lanes)
        return _lane_sum(p, self.lanes)

    def trace(self, a, w, valid, clear, bias=None):
        """Raw accumulator after each edge: float32 bit patterns or integer codes (bias alike)."""
        if self.accumulator == "fp32":
            return f32_bits(_f32_trace(self.lane_sums(a, w), valid, clear, bias))
        return torch.from_numpy(int_trace(self.lane_sums(a, w), valid, clear, self.acc, bias))

    def output(self, acc):
        """Output codes (unsigned bit patterns) from raw accumulator values."""
        acc = np.asarray(acc, dtype=np.int64)
        if self.accumulator == "fp32":  # ±inf saturates; NaN is the output's +NaN code (fn), else reads as +inf
            v = f32_from_bits(acc)
            return self.out.encode(np.where(np.isnan(v), np.float32(np.nan if self.out.special else np.inf), v))
        return self.out.encode(acc.astype(np.float64) * 2.0**-self.product_frac_bits)

    def to_dict(self):
        return {"a": self.a.to_dict(), "w": self.w.to_dict(), "out": self.out.to_dict(),
                "accumulator": self.accumulator, "acc_bits": self.acc_bits, "overflow": self.overflow,
                "lanes": self.lanes}

    @classmethod
    def from_dict(cls, d):
        unknown = sorted(set(d) - {"a", "w", "out", "accumulator", "acc_bits", "overflow", "lanes"})
        if unknown:
            raise ValueError(f"Minifloat MAC configuration has unknown keys {unknown}; allowed: a, w, out, "
                             "accumulator, acc_bits, overflow, lanes")
        return cls(from_dict(d["a"]), from_dict(d["w"]), from_dict(d["out"]), d.get("accumulator", "fp32"),
                   d.get("acc_bits", 48), d.get("overflow", "wrap"), d.get("lanes", 1))


def _f32_lanes(p, lanes):
    """Float32 tree sums per cycle of products ``[cycles]`` or ``[cycles, lanes]``."""
    p = np.asarray(p, dtype=np.float32)
    if lanes == 1:
        return p[..., 0] if p.ndim >= 2 and p.shape[-1] == 1 else p
    if p.ndim < 2 or p.shape[-1] != lanes:
        raise ValueError(f"a {lanes}-lane unit takes [cycles, {lanes}] operands, not {list(p.shape)}")
    return f32_tree(p)


@dataclass(frozen=True)
class Float32MacConfig:
    """The float32 baseline MAC of the paper's Table III: float32 × float32, float32 sum.

    The multiplier flushes subnormals (``f32_multiply``); the adders are full
    IEEE (subnormals kept). ``out`` is the float32 accumulator itself. With
    ``lanes > 1`` the products of a cycle are summed by a float32 adder tree
    (``ristretto.datapath.lanes``) before they enter the accumulator.
    """

    lanes: int = 1

    family = "float32"
    a = w = out = FLOAT32

    def __post_init__(self):
        object.__setattr__(self, "lanes", check_lanes(self.lanes))

    def products(self, a, w):
        return f32_multiply(f32_from_bits(a), f32_from_bits(w))

    def lane_sums(self, a, w):
        return _f32_lanes(self.products(a, w), self.lanes)

    def trace(self, a, w, valid, clear, bias=None):
        return f32_bits(_f32_trace(self.lane_sums(a, w), valid, clear, bias))

    def output(self, acc):
        return np.asarray(acc, dtype=np.int64)

    def to_dict(self):
        return {"lanes": self.lanes}
