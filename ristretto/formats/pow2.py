"""Power-of-two weights (multiplier-free): a sign and an exponent code, ±2**e."""

import math
from dataclasses import dataclass

import torch

from ._base import Format, check_int, signed_slug
from ._floatbits import exponent_field, pow2
from .rounding import ROUNDING_MODES

__all__ = ["PowerOfTwo"]

# The smallest float of each working dtype that is >= sqrt(2): exact, since
# sqrt(2) is irrational, so m >= this <=> m > sqrt(2) for m of that dtype.
_SQRT2_UP = {
    torch.float32: (math.isqrt(2 << 46) + 1) * 2.0 ** -23,
    torch.float64: (math.isqrt(2 << 104) + 1) * 2.0 ** -52,
}


@dataclass(frozen=True)
class PowerOfTwo(Format):
    """Power-of-two values ±2**e, e in [exp_min, exp_max], plus 0 when ``zero``.

    Parameters
    ----------
    bits : int
        Code width: one sign bit and ``bits - 1`` exponent-code bits (2 to 9).
    exp_min, exp_max : int
        Exponent range, within [-126, 126] (float32 normals).
    zero : bool
        Reserve exponent code 0 for zero (codes ``e - exp_min + 1`` for the
        powers). With ``zero=False`` (the paper's format) the codes are
        ``e - exp_min`` and zero (either sign) quantizes to ``+2**exp_min``.

    Notes
    -----
    Rounding modes: ``nearest_even`` (linear nearest, a tie at 1.5·2**e goes
    to the even exponent code), ``nearest_away``, ``toward_zero``,
    ``stochastic`` (unbiased between the two neighbours) and ``log``, the
    paper's rounding of log2|x|, whose binade split lies at sqrt(2)·2**e.
    Between 0 and 2**exp_min every mode, ``log`` included, uses the linear
    rule (the log domain has no zero). Magnitudes above ``2**exp_max`` and ±inf
    saturate; NaN raises ``ValueError``.
    """

    bits: int
    exp_min: int
    exp_max: int
    zero: bool = True

    rounding_modes = ROUNDING_MODES + ("log",)

    def __post_init__(self):
        check_int("Code width (bits)", self.bits, 2, 9)
        check_int("Smallest exponent (exp_min)", self.exp_min, -126, 126)
        check_int("Largest exponent (exp_max)", self.exp_max, -126, 126)
        if not isinstance(self.zero, bool):
            raise TypeError(f"zero must be a bool, not {self.zero!r}")
        if self.exp_max < self.exp_min:
            raise ValueError(
                f"exp_max ({self.exp_max}) must not be below exp_min ({self.exp_min})"
            )
        needed = self.exp_max - self.exp_min + 1 + int(self.zero)
        if needed > 1 << (self.bits - 1):
            raise ValueError(
                f"Exponents {self.exp_min}..{self.exp_max}{' and zero' if self.zero else ''} need "
                f"{needed} codes, but {self.bits - 1} exponent-code bits hold {1 << (self.bits - 1)}; "
                "widen bits or narrow the range"
            )

    _float32_exact = True

    @property
    def max_value(self):
        return 2.0 ** self.exp_max

    @property
    def min_value(self):
        return -self.max_value

    @property
    def min_positive(self):
        return 2.0 ** self.exp_min

    @property
    def slug(self):
        s = f"pow{self.bits}e{signed_slug(self.exp_min)}e{signed_slug(self.exp_max)}"
        return s if self.zero else s + "nz"

    def to_dict(self):
        return {"kind": "pow2", "bits": self.bits, "exp_min": self.exp_min,
                "exp_max": self.exp_max, "zero": self.zero}

    def _code_bounds(self):
        return 0, (1 << self.bits) - 1

    def _canonical(self, c):
        return (c & ((1 << (self.bits - 1)) - 1)) <= self.exp_max - self.exp_min + int(self.zero)

    def _check_codes(self, t):
        super()._check_codes(t)
        bad = ~self._canonical(t)
        if bad.any():
            top = self.exp_max - self.exp_min + int(self.zero)
            raise ValueError(
                f"Code {int(t[bad].flatten()[0])} has exponent code above {top}, unused in {self!r}"
            )

    # -- numerics ----------------------------------------------------------
    def _quantize_chunk(self, x, rounding, u):
        dtype = x.dtype
        a = x.abs()
        e = exponent_field(a).clamp_(self.exp_min - 1, self.exp_max)
        m = a * pow2(-e, dtype)  # in [1, 2) inside the range
        if rounding == "nearest_even":
            code_odd = ((e - self.exp_min + int(self.zero)) & 1) == 1
            up = (m > 1.5) | ((m == 1.5) & code_odd)
        elif rounding == "nearest_away":
            up = m >= 1.5
        elif rounding == "toward_zero":
            up = torch.zeros_like(m, dtype=torch.bool)
        elif rounding == "stochastic":
            up = u < (m - 1.0)
        else:  # log
            up = m >= _SQRT2_UP[dtype]
        v = pow2((e + up).clamp_(max=self.exp_max), dtype)
        # Below the smallest power: the grid is {0, 2**exp_min} (or just 2**exp_min).
        low = 2.0 ** self.exp_min
        if self.zero:
            f = a * (1.0 / low)  # in [0, 1)
            if rounding in ("nearest_even", "log"):
                up0 = f > 0.5
            elif rounding == "nearest_away":
                up0 = f >= 0.5
            elif rounding == "toward_zero":
                up0 = torch.zeros_like(f, dtype=torch.bool)
            else:
                up0 = u < f
            v_low = up0.to(dtype) * low
        else:
            v_low = torch.full_like(a, low)
        v = torch.copysign(torch.where(a < low, v_low, v), x)
        # quantize is a function of the value: -0.0 goes where +0.0 goes (the paper's +2**exp_min)
        return v if self.zero else torch.where(x == 0, low, v)

    def _encode_values(self, v):
        a = v.abs()
        k = (exponent_field(a) - self.exp_min + int(self.zero)).to(torch.int64)
        if self.zero:
            k = torch.where(a == 0, 0, k)
        sign = torch.signbit(v).to(torch.int64)
        return (sign << (self.bits - 1)) | k

    def _decode_codes(self, c):
        k = c & ((1 << (self.bits - 1)) - 1)
        v = pow2(k + self.exp_min - int(self.zero), torch.float64)
        if self.zero:
            v = torch.where(k == 0, 0.0, v)
        return torch.where(((c >> (self.bits - 1)) & 1) == 1, -v, v)
