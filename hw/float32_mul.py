"""Binary32 multiplier with flush-to-zero, round to nearest even (combinational)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..datapath import QNAN
from .bits import round_half_even

__all__ = ["Float32Multiplier"]


class Float32Multiplier(wiring.Component):
    """``o = a * b`` in binary32, equal to ``ristretto.datapath.f32_multiply``.

    Subnormal inputs count as zero; the 48-bit product is rounded to 24 bits
    (nearest even); results below 2**-126 flush to a signed zero, overflow gives
    ±inf. NaN inputs and inf × 0 give the quiet NaN ``0x7FC00000``.
    """

    def __init__(self):
        super().__init__({"a": In(32), "b": In(32), "o": Out(32)})

    def elaborate(self, platform):
        m = Module()
        a, b = self.a, self.b
        ea, eb = a[23:31], b[23:31]
        sign = a[31] ^ b[31]
        za, zb = ea == 0, eb == 0  # zero or subnormal: zero
        ia, ib = (ea == 0xFF) & (a[:23] == 0), (eb == 0xFF) & (b[:23] == 0)
        na, nb = (ea == 0xFF) & (a[:23] != 0), (eb == 0xFF) & (b[:23] != 0)

        prod = Signal(48)
        m.d.comb += prod.eq(Cat(a[:23], 1) * Cat(b[:23], 1))
        top = prod[47]
        # keep 24 bits + guard; everything below is sticky
        kept = Mux(top, prod[24:48], prod[23:47])
        guard = Mux(top, prod[23], prod[22])
        sticky = Mux(top, prod[:23] != 0, prod[:22] != 0)
        rounded = round_half_even(m, kept, guard, sticky)  # 25 bits
        carry = rounded[24]
        exp = Signal(signed(11))
        m.d.comb += exp.eq(ea + eb - 127 + top + carry)
        frac = Mux(carry, rounded[1:24], rounded[:23])

        zero = Cat(Const(0, 31), sign)
        inf = Cat(Const(0, 23), Const(0xFF, 8), sign)
        with m.If(na | nb | (ia & zb) | (ib & za)):
            m.d.comb += self.o.eq(QNAN)
        with m.Elif(ia | ib):
            m.d.comb += self.o.eq(inf)
        with m.Elif(za | zb | (exp <= 0)):
            m.d.comb += self.o.eq(zero)
        with m.Elif(exp >= 0xFF):
            m.d.comb += self.o.eq(inf)
        with m.Else():
            m.d.comb += self.o.eq(Cat(frac, exp[:8], sign))
        return m
