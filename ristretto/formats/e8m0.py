"""E8M0: the unsigned, exponent-only scale of the OCP MX formats (ml_dtypes float8_e8m0fnu)."""

from dataclasses import dataclass

import torch

from ._base import Format
from ._floatbits import exponent_field, pow2

__all__ = ["E8M0"]


@dataclass(frozen=True)
class E8M0(Format):
    """Powers of two ``2**(code - 127)``, codes 0..254; code 255 is NaN. No sign, no zero, no infinity.

    ``quantize`` rounds as ml_dtypes casts: to the nearest power of two with
    ties (``1.5 * 2**k``) up, since IEEE round-to-nearest-even on a format
    without mantissa bits always finds the implicit bit odd; ``toward_zero``
    takes ``2**floor(log2(x))`` (how an MX scale is derived). Values below
    ``2**-127`` give ``2**-127``; zero, negative numbers, infinities, NaN and
    values above ``2**127`` give NaN (the format has nothing else for them).
    """

    rounding_modes = ("nearest_even", "toward_zero")
    _propagates_nan = True
    _float32_exact = False  # 2**-127 is not a normal float32: compute in float64

    @property
    def bits(self):
        return 8

    @property
    def max_value(self):
        return 2.0 ** 127

    @property
    def min_value(self):
        return 2.0 ** -127

    @property
    def min_positive(self):
        return 2.0 ** -127

    @property
    def slug(self):
        return "e8m0"

    def to_dict(self):
        return {"kind": "e8m0"}

    def _code_bounds(self):
        return 0, 255

    def _quantize_chunk(self, x, rounding, u):
        ok = torch.isfinite(x) & (x > 0)
        a = torch.where(ok, x, 1.0)
        e = exponent_field(a)
        if rounding == "nearest_even":
            e = e + (a >= 1.5 * pow2(e, a.dtype)).to(e.dtype)
        e = e.clamp(min=-127)
        ok &= e <= 127
        return torch.where(ok, pow2(e.clamp(max=127), a.dtype), torch.nan)

    def _encode_values(self, v):
        nan = torch.isnan(v)
        e = exponent_field(torch.where(nan, 1.0, v.double()))
        return torch.where(nan, 255, e + 127).to(torch.int64)

    def _decode_codes(self, c):
        return torch.where(c == 255, torch.nan, pow2(c.clamp(max=254) - 127, torch.float64))
