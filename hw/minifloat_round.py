"""Rounding of a normalized (sign, exponent, significand) value to a minifloat code."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..formats import Minifloat
from .bits import round_shift_right

__all__ = ["MinifloatRounder"]


class MinifloatRounder(wiring.Component):
    """Combinational conversion to ``fmt`` codes, equal to ``fmt.encode`` (nearest even).

    Input value: ``(-1)**sign * sig * 2**(exp - (width - 1))`` with ``sig[width-1] == 1``,
    or zero when ``zero``; ``saturate`` forces ±max (e.g. an infinite input).

    Parameters
    ----------
    fmt : Minifloat
        Output format, without inf codes; an OCP ``fn`` format's largest code is
        S.1...1.1...0 (all ones is NaN; the caller produces NaN).
    width : int
        Significand width of the input.
    exp_bits : int
        Width of the signed input exponent.
    """

    def __init__(self, fmt, *, width, exp_bits):
        self._MustUse__silence = True
        if not isinstance(fmt, Minifloat) or fmt.inf_nan or fmt.special not in (None, "fn") or not fmt.saturating:
            raise TypeError(f"fmt must be a Minifloat without inf codes (OCP 'fn' saturating allowed), not {fmt!r}")
        self._fmt, self._width, self._exp_bits = fmt, width, exp_bits
        self._MustUse__silence = False
        super().__init__({"sign": In(1), "exp": In(signed(exp_bits)), "sig": In(width), "zero": In(1),
                          "saturate": In(1), "code": Out(fmt.bits)})

    def elaborate(self, platform):
        m = Module()
        f, w = self._fmt, self._width
        e_m, mb = f.exp_bits, f.man_bits
        normal = self.exp >= f.emin
        # below the smallest normal: the quantum stays 2**(emin - M) (subnormals) or 2**emin (flush)
        base = (w - 1 - mb) if f.subnormals else (w - 1)
        below = Signal(signed(self._exp_bits + 2))
        m.d.comb += below.eq(base + (f.emin - self.exp))
        amount = Signal(range(w + 2))
        m.d.comb += amount.eq(Mux(normal, w - 1 - mb, Mux(below > w + 1, w + 1, below)))
        r = round_shift_right(m, self.sig, w, amount, w + 1)
        if mb == 0 and w >= 2:  # a tie between 2**exp and 2**(exp+1) goes to the even code (formats.Minifloat)
            odd = Signal()
            m.d.comb += odd.eq((self.exp + f.bias)[0])  # the code of 2**exp is exp + bias
            r = Mux(normal & (self.sig == (0b11 << (w - 2))), Mux(odd, 2, 1), r)
        code_bits = e_m + mb + 2
        normal_code = Signal(signed(code_bits + self._exp_bits))
        m.d.comb += normal_code.eq(((self.exp + (f.bias - 1)) << mb) + r)
        tiny_code = r if f.subnormals else (r << mb)
        max_code = f.max_code
        mag = Signal(signed(code_bits + self._exp_bits + 1))
        m.d.comb += mag.eq(Mux(normal, normal_code, tiny_code))
        sign = self.sign << (e_m + mb)
        with m.If(self.zero):
            m.d.comb += self.code.eq(sign)
        with m.Elif(self.saturate | (self.exp > f.emax) | (mag > max_code)):
            m.d.comb += self.code.eq(sign | max_code)
        with m.Else():
            m.d.comb += self.code.eq(sign | mag[: e_m + mb])
        return m
