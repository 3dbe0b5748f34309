"""Minifloat: sign, E exponent bits and M mantissa bits, with selectable IEEE features."""

from dataclasses import dataclass

import numpy as np
import torch

from ._base import Format, check_int, signed_slug
from ._floatbits import FLOAT_LAYOUT, exponent_field, pow2
from .rounding import round_integer

__all__ = ["Minifloat"]

_F32_MAX = float(torch.finfo(torch.float32).max)


@dataclass(frozen=True)
class Minifloat(Format):
    """A float of ``1 + exp_bits + man_bits`` bits, code layout sign | exponent | mantissa.

    Parameters
    ----------
    exp_bits : int
        Exponent width E, 1 to 8.
    man_bits : int
        Mantissa (fraction) width M, 0 to 23.
    bias : int, optional
        Exponent bias; defaults to ``2**(E-1) - 1``.
    subnormals : bool
        Exponent code 0 gives gradual underflow (IEEE subnormals). Default
        ``False``, the paper's semantics: exponent code 0 means zero, and a
        code with exponent 0 and a non-zero mantissa is a non-canonical zero.
    inf_nan : bool
        Reserve the all-ones exponent for inf (mantissa 0) and NaN, with IEEE
        overflow: nearest and stochastic rounding overflow to inf,
        ``toward_zero`` to the largest finite value. NaN propagates. Default
        ``False``: every exponent code is a normal binade, NaN input raises,
        overflow and ±inf saturate to ±``max_value``.
    special : {None, "fn", "fnuz"}
        The OCP/ml_dtypes finite encodings (``inf_nan`` must be False): ``"fn"``
        has no infinities and one NaN per sign at all-ones exponent and mantissa
        (float8_e4m3fn: largest 448); ``"fnuz"`` has no infinities, no negative
        zero, and one NaN at the negative-zero code ``1 << (E + M)``. Both keep
        every other exponent code a normal binade and propagate NaN.
    saturating : bool
        For ``special`` formats: overflow and ±inf saturate to ±``max_value``
        (default, OCP's saturating conversion), or with ``False`` become NaN
        (OCP's non-saturating conversion; what ml_dtypes casts do).

    Notes
    -----
    With both options, ``Minifloat(5, 10, ...)`` is IEEE binary16,
    ``Minifloat(8, 7, ...)`` bfloat16 and ``Minifloat(5, 2, ...)`` float8_e5m2.
    Between 0 and the smallest normal value of a format without subnormals
    the grid is {0, 2**emin}; a tie there rounds to 0 under ``nearest_even``.
    ``nearest_even`` sends a tie to the value with the even code: for
    ``man_bits >= 1`` that is the even significand IEEE names; with
    ``man_bits = 0`` (where IEEE's rule is open: every significand is 1) it is
    the power of two whose exponent code is even, so e2m0 rounds 3.0 to 2.0
    (code 2) and 1.5 to 2.0, never 3.0 to 4.0 (code 3).
    The sign of zero is kept (codes ``0`` and ``1 << (E + M)``). Every value
    must be a float32, so formats whose range leaves float32 are refused.
    """

    exp_bits: int
    man_bits: int
    bias: int = None
    subnormals: bool = False
    inf_nan: bool = False
    special: str = None
    saturating: bool = True

    def __post_init__(self):
        check_int("Exponent width (exp_bits)", self.exp_bits, 1, 8)
        check_int("Mantissa width (man_bits)", self.man_bits, 0, 23)
        if self.bias is None:
            object.__setattr__(self, "bias", (1 << (self.exp_bits - 1)) - 1)
        check_int("Exponent bias (bias)", self.bias, -256, 256)
        for name in ("subnormals", "inf_nan"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, not {getattr(self, name)!r}")
        if self.special not in (None, "fn", "fnuz"):
            raise ValueError(f"special must be None, 'fn' or 'fnuz', not {self.special!r}")
        if not isinstance(self.saturating, bool):
            raise TypeError(f"saturating must be a bool, not {self.saturating!r}")
        if not self.saturating and not self.special:
            raise ValueError("saturating=False (overflow to NaN) needs a special encoding ('fn' or 'fnuz')")
        if self.special and self.inf_nan:
            raise ValueError(f"special={self.special!r} is a finite encoding: it excludes inf_nan=True")
        if self.special == "fn" and self.exp_bits == 1 and self.man_bits == 0:
            raise ValueError("Minifloat(exp_bits=1, man_bits=0, special='fn') has no finite non-zero value")
        if self.inf_nan and self.man_bits == 0:
            raise ValueError(
                f"Minifloat(exp_bits={self.exp_bits}, man_bits=0, inf_nan=True) has no NaN code; "
                "use man_bits >= 1 or inf_nan=False"
            )
        if self.inf_nan and self.exp_bits == 1:
            raise ValueError(
                "Minifloat(exp_bits=1, inf_nan=True) has no finite non-zero binade; use exp_bits >= 2"
            )
        low = self.lsb_exp if self.subnormals else self.emin
        if low < -149 or self.max_value > _F32_MAX:
            raise ValueError(
                f"{self!r} spans 2**{low} .. {self.max_value:g}, outside float32; "
                "choose a bias that keeps the range within float32"
            )

    # -- parameters --------------------------------------------------------
    @property
    def bits(self):
        return 1 + self.exp_bits + self.man_bits

    @property
    def emin(self):
        """Exponent of the smallest normal binade."""
        return 1 - self.bias

    @property
    def emax(self):
        """Exponent of the largest finite binade."""
        reserved = self.inf_nan or (self.special == "fn" and self.man_bits == 0)  # a whole binade of specials
        top = (1 << self.exp_bits) - (2 if reserved else 1)
        return top - self.bias

    @property
    def lsb_exp(self):
        """Exponent of the lowest binade's least significant mantissa bit, ``emin - man_bits``: every value
        is an integer multiple of ``2**lsb_exp`` (with or without subnormals)."""
        return self.emin - self.man_bits

    @property
    def max_code(self):
        """The code of ``max_value`` (sign bit clear)."""
        fn_top = self.special == "fn" and self.man_bits > 0  # the top mantissa of the top binade is NaN
        return ((self.emax + self.bias) << self.man_bits) | ((1 << self.man_bits) - 1 - fn_top)

    @property
    def nan_code(self):
        """The code NaN encodes to (sign bit clear), or None for a format without NaN."""
        low = self.exp_bits + self.man_bits
        if self.special == "fn":
            return (1 << low) - 1
        if self.special == "fnuz":
            return 1 << low
        if self.inf_nan:
            return (((1 << self.exp_bits) - 1) << self.man_bits) | (1 << (self.man_bits - 1))
        return None

    @property
    def max_value(self):
        if self.special == "fn" and self.man_bits > 0:  # the top mantissa of the top binade is NaN
            return 2.0 ** self.emax * (2.0 - 2.0 ** (1 - self.man_bits))
        return 2.0 ** self.emax * (2.0 - 2.0 ** -self.man_bits)

    @property
    def min_value(self):
        return -self.max_value

    @property
    def min_positive(self):
        return 2.0 ** (self.lsb_exp if self.subnormals else self.emin)

    @property
    def slug(self):
        s = f"mf{self.bits}e{self.exp_bits}m{self.man_bits}"
        if self.bias != (1 << (self.exp_bits - 1)) - 1:
            s += f"b{signed_slug(self.bias)}"
        return s + ("s" if self.subnormals else "") + ("i" if self.inf_nan else "") + (self.special or "") + \
            ("" if self.saturating else "nan")

    def to_dict(self):
        d = {"kind": "minifloat", "exp_bits": self.exp_bits, "man_bits": self.man_bits,
             "bias": self.bias, "subnormals": self.subnormals, "inf_nan": self.inf_nan}
        if self.special:  # absent for the IEEE and paper encodings, as before
            d["special"] = self.special
            if not self.saturating:
                d["saturating"] = False
        return d

    @property
    def _propagates_nan(self):
        return self.inf_nan or self.special is not None

    @property
    def _float32_exact(self):
        # Every scale factor 2**k used below must be a normal float32, and
        # max + half an ulp must be a float32 (so M <= 22).
        return self.lsb_exp >= -126 and self.emax <= 126 and self.man_bits <= 22

    def _code_bounds(self):
        return 0, (1 << self.bits) - 1

    def _kernel(self, rounding):
        if rounding != "nearest_even":
            return None
        shift = 23 - self.man_bits  # >= 1: a float32-exact format has man_bits <= 22
        max_bits = int(np.float32(self.max_value).view(np.int32))
        if self.inf_nan:
            over = 0x7f800000  # IEEE: nearest rounding overflows to inf
        elif not self.saturating:
            over = 0x7fc00000  # OCP non-saturating conversion: NaN
        else:
            over = max_bits
        # m = 0: the tie goes to the even code; the pattern's kept bit is float32's exponent LSB, whose parity is
        # the code's when the bias is odd (e + 127 vs e + bias), so an even bias flips it
        flip = int(self.man_bits == 0 and self.bias % 2 == 0)
        quantum = self.lsb_exp if self.subnormals else self.emin  # the grid below the smallest normal
        i32, f32 = np.int32, np.float32
        return "minifloat_nearest_even", (
            i32(shift), i32((1 << (shift - 1)) - 1), i32(~((1 << shift) - 1)), i32(flip), i32((self.emin + 127) << 23),
            f32(2.0 ** (quantum + 23)), i32(max_bits), i32(over), self.special == "fnuz")

    def _canonical(self, c):
        m_bits = self.man_bits
        man = c & ((1 << m_bits) - 1)
        exp_code = (c >> m_bits) & ((1 << self.exp_bits) - 1)
        ok = torch.ones_like(c, dtype=torch.bool)
        if not self.subnormals:  # exponent 0 with a mantissa is a non-canonical zero
            ok &= (exp_code != 0) | (man == 0)
        if self.inf_nan:  # one quiet NaN pattern per sign
            top = exp_code == (1 << self.exp_bits) - 1
            ok &= ~top | (man == 0) | (man == 1 << (m_bits - 1))
        if self.special == "fnuz" and not self.subnormals:  # the NaN code is exponent 0, mantissa 0: canonical
            ok |= c == 1 << (self.exp_bits + m_bits)
        return ok

    # -- numerics ----------------------------------------------------------
    def _quantize_chunk(self, x, rounding, u):
        m = self.man_bits
        a = x.abs().clamp_(max=2.0 ** (self.emax + 1))
        e = exponent_field(a).clamp_(self.emin, self.emax)
        qe = e - m  # exponent of the quantum (ulp) in a's binade
        if not self.subnormals:
            qe = torch.where(a < 2.0 ** self.emin, self.emin, qe)
        y = a * pow2(-qe, a.dtype)
        r = round_integer(y, rounding, u)
        if m == 0 and rounding == "nearest_even":
            # With no mantissa bit a tie (y = 1.5) lies between 2**e and 2**(e+1), whose significands are both 1:
            # IEEE's "even least significant digit" decides nothing at p = 1. The rule is the even *code*, as for
            # every other width (there it coincides with an even significand): 2**e's code is e + bias.
            r = torch.where(y == 1.5, torch.where((e + self.bias) % 2 == 0, 1.0, 2.0).to(a.dtype), r)
        v = r.mul_(pow2(qe, a.dtype))
        over = v > self.max_value
        if self.inf_nan and rounding != "toward_zero":
            v = torch.where(over, torch.inf, v)
        else:
            v = torch.where(over, self.max_value, v)
            if self.inf_nan:  # IEEE: toward_zero keeps an infinite input infinite
                v = torch.where(torch.isinf(x), torch.inf, v)
        if not self.saturating:  # OCP non-saturating conversion: overflow and infinities become NaN
            v = torch.where(over | torch.isinf(x), torch.nan, v)
        v = torch.copysign(v, x)
        return v + 0.0 if self.special == "fnuz" else v  # no negative zero: -0 + 0 is +0

    def _encode_values(self, v):
        int_dtype, frac, _ = FLOAT_LAYOUT[v.dtype]
        e_bits, m_bits = self.exp_bits, self.man_bits
        a = v.abs()
        e = exponent_field(a)
        normal = a >= 2.0 ** self.emin
        exp_code = torch.where(normal, e + self.bias, 0)
        man_normal = (a.view(int_dtype) >> (frac - m_bits)) & ((1 << m_bits) - 1)
        man_sub = torch.round(a * 2.0 ** (m_bits - self.emin)).to(int_dtype)
        man = torch.where(normal, man_normal, man_sub if self.subnormals else 0)
        if self.inf_nan:
            special = ~torch.isfinite(a)
            exp_code = torch.where(special, (1 << e_bits) - 1, exp_code)
            man = torch.where(torch.isinf(a), 0, torch.where(torch.isnan(a), 1 << (m_bits - 1), man))
        nan = torch.isnan(a)
        if self.special == "fn":  # NaN: all-ones exponent and mantissa
            exp_code = torch.where(nan, (1 << e_bits) - 1, exp_code)
            man = torch.where(nan, (1 << m_bits) - 1, man)
        sign = torch.signbit(v).to(torch.int64)
        code = (sign << (e_bits + m_bits)) | (exp_code.to(torch.int64) << m_bits) | man.to(torch.int64)
        if self.special == "fnuz":  # NaN is the negative-zero code; there is no -0
            code = torch.where(nan, 1 << (e_bits + m_bits), torch.where(v == 0, 0, code))
        return code

    def _decode_codes(self, c):
        e_bits, m_bits = self.exp_bits, self.man_bits
        man = (c & ((1 << m_bits) - 1)).to(torch.float64)
        exp_code = (c >> m_bits) & ((1 << e_bits) - 1)
        normal = pow2(exp_code - self.bias - m_bits, torch.float64) * (man + (1 << m_bits))
        sub = man * 2.0 ** (self.emin - m_bits) if self.subnormals else torch.zeros_like(man)
        v = torch.where(exp_code == 0, sub, normal)
        if self.inf_nan:
            top = exp_code == (1 << e_bits) - 1
            v = torch.where(top, torch.where(man == 0, torch.inf, torch.nan), v)
        if self.special == "fn":
            v = torch.where((exp_code == (1 << e_bits) - 1) & (man == (1 << m_bits) - 1), torch.nan, v)
        v = torch.where(((c >> (e_bits + m_bits)) & 1) == 1, -v, v)
        if self.special == "fnuz":
            v = torch.where(c == 1 << (e_bits + m_bits), torch.nan, v)
        return v
