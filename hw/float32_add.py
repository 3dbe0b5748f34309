"""IEEE 754 binary32 adder: round to nearest even, subnormals, inf and NaN (combinational)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..datapath import QNAN
from .bits import leading_zeros, round_half_even

__all__ = ["Float32Adder"]



class Float32Adder(wiring.Component):
    """``o = a + b`` in binary32 with IEEE round-to-nearest-even.

    Subnormal inputs and results are exact IEEE (no flushing). Any NaN input, or
    inf + (-inf), gives the quiet NaN ``0x7FC00000`` (payloads are not kept).
    Overflow gives ±inf. An exact zero sum of opposite signs is +0.
    """

    def __init__(self):
        super().__init__({"a": In(32), "b": In(32), "o": Out(32)})

    def elaborate(self, platform):
        m = Module()
        a, b = self.a, self.b
        mag_a, mag_b = a[:31], b[:31]
        swap = mag_b > mag_a
        x, y = Mux(swap, b, a), Mux(swap, a, b)  # |x| >= |y|
        ex, ey = x[23:31], y[23:31]
        sx, sy = x[31], y[31]
        # significand with hidden bit; subnormals use exponent 1
        mx = Cat(x[:23], ex != 0)
        my = Cat(y[:23], ey != 0)
        eex = Mux(ex == 0, 1, ex)
        eey = Mux(ey == 0, 1, ey)

        d = Signal(8)
        m.d.comb += d.eq(eex - eey)
        dc = Mux(d > 31, 31, d)[:5]
        # 3 extra bits: guard, round, sticky
        xs = Signal(27)
        ys_full = Signal(27)
        m.d.comb += [xs.eq(mx << 3), ys_full.eq(my << 3)]
        ys = Signal(27)
        m.d.comb += ys.eq(ys_full >> dc)
        sticky_in = Signal()
        m.d.comb += sticky_in.eq((ys << dc)[:27] != ys_full)
        ys_st = Cat(ys[0] | sticky_in, ys[1:])

        same = sx == sy
        s = Signal(28)
        m.d.comb += s.eq(Mux(same, xs + ys_st, xs - ys_st))

        # normalize: carry -> shift right 1; else shift left by leading zeros, not below exponent 1
        carry = s[27]
        lz = leading_zeros(m, s[:27], 27)
        lshift = Signal(8)
        m.d.comb += lshift.eq(Mux(lz > eex - 1, eex - 1, lz))
        norm = Signal(27)
        exp = Signal(unsigned(10))
        m.d.comb += [
            norm.eq(Mux(carry, Cat(s[1] | s[0], s[2:28]), (s[:27] << lshift)[:27])),
            exp.eq(Mux(carry, eex + 1, eex - lshift)),
        ]
        # round to nearest even on guard/round/sticky
        sig = round_half_even(m, norm[3:27], norm[2], norm[0] | norm[1])  # 25 bits
        sig_carry = sig[24]
        exp_r = Signal(unsigned(10))
        m.d.comb += exp_r.eq(exp + sig_carry)
        man = Mux(sig_carry, sig[1:24], sig[:23])
        hidden = Mux(sig_carry, 1, sig[23])
        exp_field = Mux(hidden, exp_r, 0)  # no hidden bit: subnormal (or zero)

        x_nan = (ex == 0xFF) & (x[:23] != 0)
        y_nan = (ey == 0xFF) & (y[:23] != 0)
        x_inf = (ex == 0xFF) & (x[:23] == 0)
        y_inf = (ey == 0xFF) & (y[:23] == 0)
        zero_sum = s == 0
        result_sign = Mux(zero_sum, sx & sy, sx)
        with m.If(x_nan | y_nan | (x_inf & y_inf & ~same)):
            m.d.comb += self.o.eq(QNAN)
        with m.Elif(x_inf):
            m.d.comb += self.o.eq(x)
        with m.Elif(exp_field >= 0xFF):
            m.d.comb += self.o.eq(Cat(Const(0, 23), Const(0xFF, 8), sx))
        with m.Else():
            m.d.comb += self.o.eq(Cat(man, exp_field[:8], result_sign))
        return m
