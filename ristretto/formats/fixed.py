"""Dynamic fixed point: a B-bit two's complement code scaled by 2**-frac_bits."""

from dataclasses import dataclass

import numpy as np
import torch

from ._base import Format, check_int, signed_slug
from .rounding import round_integer, round_shift

__all__ = ["DynamicFixedPoint", "twos_complement_range"]

MAX_BITS = 24       # every value is then exactly a float32
MAX_FRAC_BITS = 100  # keeps every value a normal float32


def twos_complement_range(bits):
    """``(min, max)`` of a ``bits``-bit two's complement code."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass(frozen=True)
class DynamicFixedPoint(Format):
    """Dynamic fixed point (Ristretto's ``dynamic_fixed_point``).

    Value ``c * 2**-frac_bits`` for a ``bits``-bit two's complement code ``c``.

    Parameters
    ----------
    bits : int
        Word width B, 2 to 24 (every value is then exactly a float32).
    frac_bits : int
        Fractional length; may be negative or exceed ``bits``, within ±100.

    Notes
    -----
    Range ``[-2**(B-1), 2**(B-1) - 1] * 2**-frac_bits``. Out-of-range values,
    and ±inf, saturate (never wrap). NaN raises ``ValueError``. The code of
    ``encode`` is the two's complement value itself (``int64``, signed).
    """

    bits: int
    frac_bits: int

    def __post_init__(self):
        check_int("Word width (bits)", self.bits, 2, MAX_BITS)
        check_int("Fractional length (frac_bits)", self.frac_bits, -MAX_FRAC_BITS, MAX_FRAC_BITS)

    _float32_exact = True

    @property
    def step(self):
        """Quantization step ``2**-frac_bits``."""
        return 2.0 ** -self.frac_bits

    @property
    def min_code(self):
        return twos_complement_range(self.bits)[0]

    @property
    def max_code(self):
        return twos_complement_range(self.bits)[1]

    @property
    def max_value(self):
        return self.max_code * self.step

    @property
    def min_value(self):
        return self.min_code * self.step

    @property
    def min_positive(self):
        """Smallest positive value (one step); 0.0 is also representable."""
        return self.step

    @property
    def slug(self):
        return f"dfp{self.bits}f{signed_slug(self.frac_bits)}"

    def to_dict(self):
        return {"kind": "dfp", "bits": self.bits, "frac_bits": self.frac_bits}

    def requantize_codes(self, codes, frac_bits):
        """Convert integer codes scaled by ``2**-frac_bits`` to this format's codes.

        Integer-exact (int64): shift by ``frac_bits - self.frac_bits`` rounding to
        nearest even, then saturate. Equal to ``encode(codes * 2**-frac_bits)``
        wherever float arithmetic would be exact, and the rule the hardware
        requantizer implements.
        """
        if isinstance(codes, torch.Tensor):
            codes = codes.to(torch.int64)
        else:
            codes = torch.from_numpy(np.array(codes, dtype=np.int64))
        return round_shift(codes, frac_bits - self.frac_bits).clamp_(self.min_code, self.max_code)

    # -- numerics ----------------------------------------------------------
    def _code_bounds(self):
        return self.min_code, self.max_code

    def _scaled_codes(self, x, rounding, u):
        y = x * (2.0 ** self.frac_bits)
        # Clamping first is equivalent (the bounds are integers) and lets stochastic
        # rounding stay inside the range.
        y.clamp_(self.min_code, self.max_code)
        return round_integer(y, rounding, u)

    def _quantize_chunk(self, x, rounding, u):
        return self._scaled_codes(x, rounding, u).mul_(self.step)

    def _quantize_chunk_into(self, x, rounding, u, out):
        if rounding not in ("nearest_even", "toward_zero"):
            return super()._quantize_chunk_into(x, rounding, u, out)
        # no temporaries: scale, clamp, round and rescale in the destination
        torch.mul(x, 2.0 ** self.frac_bits, out=out)
        out.clamp_(self.min_code, self.max_code)
        out.round_() if rounding == "nearest_even" else out.trunc_()
        out.mul_(self.step)

    def _encode_values(self, v):
        return torch.round(v * (2.0 ** self.frac_bits)).to(torch.int64)

    def _decode_codes(self, c):
        return c.to(torch.float64) * self.step
