"""The MX dot product: exact block sums, the two E8M0 scales applied, float32 accumulation across blocks.

OCP MX v1.0 leaves a dot product's internal precision to the implementer. This
is the one this project states, computes in exact mode and builds in hardware:

1. Within a block (``block_size`` element pairs along the reduction axis), the
   element products are exact and summed exactly in fixed point: with
   ``qa``/``qw`` the element values times ``2**fa``/``2**fw`` (integers: ``fa``
   is the element format's LSB exponent negated, ``man_bits - emin`` for a
   minifloat, ``frac_bits`` for MXINT8), the block sum is the integer
   ``S = sum(qa * qw)``.
2. The block's value ``S * 2**(sa + sw - fa - fw)`` (``sa``, ``sw`` the two
   shared exponents, E8M0 code - 127) is rounded once to float32, nearest even
   (IEEE: subnormal results are rounded as subnormals, beyond the largest
   float32 to infinity). A NaN scale (code 255) or a NaN element makes it NaN.
3. The running float32 sum starts at the bias (float32; -0.0 without one, the
   identity of float addition) and adds each block's value in block order, each
   addition rounded to nearest even.

The lane count of a unit does not change the result (each block sum is exact),
so exact mode needs no lanes here. A unit of fewer lanes than the block size
takes a block over ``block_size / lanes`` cycles (``MXMacConfig``).
"""

from dataclasses import dataclass

import numpy as np
import torch

from ..formats import DynamicFixedPoint, Minifloat, MXFormat
from .floating import FLOAT32, _f32_trace, f32_bits
from .lanes import check_lanes

__all__ = ["MXMacConfig", "block_value", "element_frac_bits", "element_ints", "exact_bits", "mx_dot"]


def element_frac_bits(element):
    """``f`` such that every value of ``element`` times ``2**f`` is an integer (its LSB exponent, negated)."""
    if isinstance(element, Minifloat):
        return -element.lsb_exp
    if isinstance(element, DynamicFixedPoint):
        return element.frac_bits
    raise TypeError(f"MX elements are Minifloat or DynamicFixedPoint formats, not {element!r}")


def exact_bits(a_fmt, w_fmt):
    """Bits (sign included) of the largest exact block sum of two MX formats: at most 53 for float64."""
    top = a_fmt.element.max_value * 2.0 ** element_frac_bits(a_fmt.element) * \
        w_fmt.element.max_value * 2.0 ** element_frac_bits(w_fmt.element) * a_fmt.block_size
    return int(top).bit_length() + 1


def element_ints(element, codes):
    """``(q, f)``: element values times ``2**f`` (float64 tensor of integers; NaN codes stay NaN), and ``f``."""
    f = element_frac_bits(element)
    return element.decode(torch.as_tensor(codes)).double() * 2.0**f, f


def block_value(s, sa, sw, fa, fw):
    """A block's value rounded once to float32 (step 2): integer block sums ``s`` (float64), E8M0 scale codes
    ``sa``/``sw`` (broadcasting against ``s``), element scales ``2**-fa``/``2**-fw``."""
    sa, sw = torch.as_tensor(sa).to(torch.int64), torch.as_tensor(sw).to(torch.int64)
    e = (sa - 127) + (sw - 127) - (fa + fw)
    # + 0.0: an integer sum of zero is +0 (a float sum of -0 products would be -0). S * 2**e is exact in
    # float64 (|S| < 2**53, -320 < e < 300); the cast to float32 rounds once, nearest even
    v = torch.ldexp(s + 0.0, e.to(torch.float64)).float()
    return torch.where((sa == 255) | (sw == 255), torch.nan, v)


def mx_dot(a_codes, a_scales, w_codes, w_scales, a_fmt, w_fmt, bias=None):
    """The MX dot product (steps 1-3) of operands blocked as ``[..., n_blocks, block]`` codes with
    ``[..., n_blocks]`` E8M0 codes (``a`` and ``w`` broadcast), after ``bias`` (float32, or None).
    Returns float32 ``[...]``."""
    qa, fa = element_ints(a_fmt.element, a_codes)
    qw, fw = element_ints(w_fmt.element, w_codes)
    # integers below 2**53 for every element of at most 8 bits and blocks up to 1024
    values = block_value((qa * qw).sum(-1), a_scales, w_scales, fa, fw)
    acc = torch.full(values.shape[:-1], -0.0, dtype=torch.float32)
    if bias is not None:
        acc = torch.broadcast_to(torch.as_tensor(bias, dtype=torch.float32), acc.shape).clone()
    for b in range(values.shape[-1]):
        acc = acc + values[..., b]
    return acc


@dataclass(frozen=True)
class MXMacConfig:
    """An MX dot-product unit of ``lanes`` element pairs per cycle (default: the block size, a block per cycle).

    Per valid cycle it takes ``lanes`` element pairs (codes ``a``, ``w`` as
    ``[cycles, lanes]``) and adds their exact products to the block's exact
    partial sum; a block is ``block_size / lanes`` valid cycles (``lanes`` divides
    the block size), counted from ``clear``. At a block's last cycle the two
    E8M0 scale codes on ``sa``, ``sw`` (``[cycles]``; read only then) give the
    block's value (steps 1-2 above), which is added to the float32 accumulator
    (step 3). ``clear`` restarts the sum (with a ``bias`` preload as for the
    float32 MACs) and the block count, dropping a partial block. ``out`` is the
    float32 accumulator. Elements: fp4 (e2m1), fp6 (e2m3, e3m2), fp8 e4m3 (fn)
    or MXINT8; both operands' blocks are of one size.
    """

    a: MXFormat
    w: MXFormat
    lanes: int = None

    family = "mx"
    out = FLOAT32
    inputs = ("sa", "sw")  # per-cycle ports beyond a, w, valid, clear, bias

    def __post_init__(self):
        for name in ("a", "w"):
            fmt = getattr(self, name)
            if not isinstance(fmt, MXFormat):
                raise TypeError(f"{name} must be an MXFormat, not {fmt!r}")
            e = fmt.element
            if isinstance(e, Minifloat) and (e.inf_nan or e.bits > 8):
                raise ValueError(f"MX units take fp4, fp6, fp8 e4m3 or int8 elements, not {e.slug} ({name})")
        if self.a.block_size != self.w.block_size:
            raise ValueError(f"MX operands pair blocks of one size, not {self.a.block_size} and {self.w.block_size}")
        check_lanes(self.a.block_size)
        lanes = self.a.block_size if self.lanes is None else check_lanes(self.lanes)
        if self.a.block_size % lanes:
            raise ValueError(f"An MX unit's lanes divide its block size ({self.a.block_size}): not {lanes}")
        object.__setattr__(self, "lanes", lanes)
        if exact_bits(self.a, self.w) > 53:
            raise ValueError(f"{self.a.slug} x {self.w.slug} block sums need {exact_bits(self.a, self.w)} bits, "
                             "beyond the exact model's 53; MX units take fp4, fp6, fp8 e4m3 or int8 elements")

    @property
    def cycles_per_block(self):
        return self.a.block_size // self.lanes

    def block_values(self, a, w, sa, sw, valid, clear):
        """``(values, done)``: float32 ``[cycles]``, each cycle's completed block value (steps 1-2) where
        ``done`` (a block's last valid cycle), else 0."""
        a, w = torch.as_tensor(np.asarray(a, np.int64)), torch.as_tensor(np.asarray(w, np.int64))
        a, w = a.reshape(len(a), -1), w.reshape(len(w), -1)
        qa, fa = element_ints(self.a.element, a)
        qw, fw = element_ints(self.w.element, w)
        sums = (qa * qw).sum(-1)  # each cycle's exact lane sum (float64 integers; NaN for a NaN element)
        per, done = self.cycles_per_block, np.zeros(len(sums), bool)
        if per == 1:
            done[:] = np.asarray(valid, bool)
        else:  # a block is `per` valid cycles counted from clear; its partial sum stays exact in float64
            block, phase, part = sums.clone(), 0, 0.0
            for c, (s, v, k) in enumerate(zip(sums.tolist(), np.asarray(valid).tolist(), np.asarray(clear).tolist(),
                                              strict=True)):
                if k:
                    phase, part = 0, 0.0
                if v:
                    part, phase = part + s, phase + 1
                    if phase == per:
                        block[c], done[c], phase, part = part, True, 0, 0.0
            sums = block
        v = block_value(sums, torch.as_tensor(np.asarray(sa)), torch.as_tensor(np.asarray(sw)), fa, fw)
        return np.where(done, v.numpy(), np.float32(0)), done

    def trace(self, a, w, valid, clear, bias=None, *, sa, sw):
        """Float32 accumulator bit patterns after each edge (``bias``: float32 bit patterns): a block's value
        enters at its last cycle."""
        values, done = self.block_values(a, w, sa, sw, valid, clear)
        return f32_bits(_f32_trace(values, done, clear, bias))

    def output(self, acc):
        return np.asarray(acc, dtype=np.int64)

    def to_dict(self):
        d = {"a": self.a.to_dict(), "w": self.w.to_dict()}
        return d if self.lanes == self.a.block_size else {**d, "lanes": self.lanes}

    @classmethod
    def from_dict(cls, d):
        from ..formats import from_dict

        unknown = sorted(set(d) - {"a", "w", "lanes"})
        if unknown or "a" not in d or "w" not in d:
            raise ValueError(f"MX unit configuration takes a and w (MX formats) and optionally lanes, not {sorted(d)}")
        return cls(from_dict(d["a"]), from_dict(d["w"]), d.get("lanes"))
