"""Output requantizer of the integer MACs: shift, round to nearest even, saturate."""

from amaranth.hdl import Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats.fixed import twos_complement_range
from .bits import round_half_even

__all__ = ["Requantizer"]


class Requantizer(wiring.Component):
    """Combinational ``o = sat(round_half_even(i / 2**shift))``.

    Implements ``DynamicFixedPoint.requantize_codes`` bit for bit.

    Parameters
    ----------
    in_bits : int
        Width of the signed input (the accumulator).
    shift : int
        Right shift (fractional bits dropped); negative means a left shift.
    out_bits : int
        Width of the signed, saturated output.
    """

    def __init__(self, *, in_bits, shift, out_bits):
        self._MustUse__silence = True  # until validated: a refused object is not "unused"
        for name, v in (("in_bits", in_bits), ("out_bits", out_bits)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise TypeError(f"{name} must be a positive integer, not {v!r}")
        if isinstance(shift, bool) or not isinstance(shift, int):
            raise TypeError(f"shift must be an integer, not {shift!r}")
        self._in_bits, self._shift, self._out_bits = in_bits, shift, out_bits
        self._MustUse__silence = False
        super().__init__({"i": In(signed(in_bits)), "o": Out(signed(out_bits))})

    def elaborate(self, platform):
        m = Module()
        s, i = self._shift, self.i
        if s >= self._in_bits:  # |i / 2**s| <= 1/2: nearest even is always 0
            m.d.comb += self.o.eq(0)
            return m
        if s > 0:
            q = i >> s  # arithmetic: floor division
            r = round_half_even(m, q, i[s - 1], i[: s - 1].any() if s >= 2 else 0)
        else:
            r = i << -s
        lo, hi = twos_complement_range(self._out_bits)
        m.d.comb += self.o.eq(Mux(r > hi, hi, Mux(r < lo, lo, r)))
        return m
