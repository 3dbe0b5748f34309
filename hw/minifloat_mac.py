"""Minifloat MAC: exact product, float32 (or exact fixed-point) accumulation, minifloat output."""

from amaranth.hdl import Cat, Const, Mux, Signal, signed, unsigned

from ..datapath import QNAN, MinifloatMacConfig
from .bits import f32_nan, leading_zeros
from .float32_add import Float32Adder
from .int_mac import int_fit
from .mac import Mac
from .minifloat_round import MinifloatRounder

__all__ = ["MinifloatMac", "minifloat_nan", "unpack_minifloat"]


def minifloat_nan(code, fmt):
    """Whether a minifloat code is NaN: OCP ``fn`` formats' S.1...1.1...1 (float8_e4m3fn); others have none here."""
    if fmt.special == "fn":
        return code[:fmt.exp_bits + fmt.man_bits] == fmt.nan_code
    if fmt.special or fmt.inf_nan:
        raise ValueError(f"no NaN decoder for {fmt!r}: units take no inf codes and only the OCP 'fn' special codes")
    return Const(0, 1)


def unpack_minifloat(m, code, fmt):
    """``(sign, exp, sig, zero)`` of a minifloat code: value ``±sig * 2**(exp - M)``."""
    mb, e_m = fmt.man_bits, fmt.exp_bits
    exp_code = code[mb:mb + e_m]
    sign = code[mb + e_m]
    if fmt.subnormals:
        sig = Cat(code[:mb], exp_code != 0)
        exp = Mux(exp_code == 0, 1, exp_code) - fmt.bias
        zero = sig == 0
    else:  # exponent code 0 is zero
        sig = Cat(code[:mb], 1)
        exp = exp_code - fmt.bias
        zero = exp_code == 0
    exp_s = Signal(signed(e_m + 10))
    m.d.comb += exp_s.eq(exp)
    return sign, exp_s, sig, zero


class MinifloatMac(Mac):
    """Minifloat operands (paper semantics or with subnormals), exact product.

    ``accumulator="fp32"``: the product, exact in float32, enters an IEEE binary32
    adder (round to nearest even; ``acc`` holds the float32 bit pattern), as in
    the paper's MAC. ``accumulator="exact"``: the product as a fixed-point
    integer enters an ``acc_bits`` accumulator that never rounds. ``out`` is the
    sum rounded to the output minifloat (nearest even, saturating).
    """

    family = "minifloat"
    config_type = MinifloatMacConfig

    def _shapes(self):
        cfg = self._config
        acc = unsigned(32) if cfg.accumulator == "fp32" else signed(cfg.acc_bits)
        return unsigned(cfg.a.bits), unsigned(cfg.w.bits), acc, unsigned(cfg.out.bits)

    def _product(self, m, a, w, lane):
        cfg = self._config
        sa, ea, siga, za = unpack_minifloat(m, a, cfg.a)
        sw, ew, sigw, zw = unpack_minifloat(m, w, cfg.w)
        wp = cfg.a.man_bits + cfg.w.man_bits + 2
        sig = Signal(wp)
        m.d.comb += sig.eq(siga * sigw)
        sign, zero = sa ^ sw, za | zw
        if cfg.accumulator == "exact":
            shift = Signal(range(cfg.product_bits + 1))
            m.d.comb += shift.eq(ea + ew - (cfg.a.emin + cfg.w.emin))
            mag = Signal(cfg.product_bits)
            m.d.comb += mag.eq(Mux(zero, 0, sig << shift))
            p = Signal(signed(cfg.product_bits + 1), name=f"product{lane}")  # hw prove cuts the proof here
            m.d.comb += p.eq(Mux(sign, -mag, mag))
            return p
        # normalize into a float32: exact by construction (validated ranges)
        lz = leading_zeros(m, sig, wp)
        norm = Signal(wp)
        m.d.comb += norm.eq(sig << lz)
        exp_field = Signal(signed(16))
        m.d.comb += exp_field.eq(ea + ew - cfg.a.man_bits - cfg.w.man_bits + (wp - 1) - lz + 127)
        frac = Signal(23)
        m.d.comb += frac.eq(norm[: wp - 1] << (23 - (wp - 1)))
        p = Signal(32)
        m.d.comb += p.eq(Mux(minifloat_nan(a, cfg.a) | minifloat_nan(w, cfg.w), QNAN,
                             Mux(zero, Cat(Const(0, 31), sign), Cat(frac, exp_field[:8], sign))))
        return p

    def _tree_add(self, m, x, y, node):
        if self._config.accumulator == "fp32":
            m.submodules[f"tree{node}"] = adder = Float32Adder()
            m.d.comb += [adder.a.eq(x), adder.b.eq(y)]
            return adder.o
        s = Signal(signed(max(len(x), len(y)) + 1), name=f"tree{node}")
        m.d.comb += s.eq(x + y)
        return s

    def _start(self, m, p):
        cfg = self._config
        return p if cfg.accumulator == "fp32" else int_fit(p, cfg.acc)

    def _add(self, m, acc, p):
        cfg = self._config
        if cfg.accumulator == "fp32":
            m.submodules.adder = adder = Float32Adder()
            m.d.comb += [adder.a.eq(acc), adder.b.eq(p)]
            return adder.o
        total = Signal(signed(max(cfg.acc_bits, cfg.tree_bits + 1) + 1))
        m.d.comb += total.eq(acc + p)
        return int_fit(total, cfg.acc)

    def _output(self, m, acc):
        cfg = self._config
        if cfg.accumulator == "fp32":
            width, exp_bits = 24, 10
            ex, frac = acc[23:31], acc[:23]
            sig24 = Cat(frac, ex != 0)
            lz = leading_zeros(m, sig24, 24)
            exp = Signal(signed(exp_bits))
            m.d.comb += exp.eq(Mux(ex == 0, 1, ex) - 127 - lz)
            sig, sign, zero, sat = (sig24 << lz)[:24], acc[31], sig24 == 0, ex == 0xFF
        else:
            width, exp_bits = cfg.acc_bits, 8
            neg = acc < 0
            mag = Signal(cfg.acc_bits)
            m.d.comb += mag.eq(Mux(neg, -acc, acc))
            lz = leading_zeros(m, mag, width)
            exp = Signal(signed(exp_bits + 4))
            m.d.comb += exp.eq((width - 1) - lz - cfg.product_frac_bits)
            sig, sign, zero, sat = (mag << lz)[:width], neg, mag == 0, 0
            exp_bits += 4
        m.submodules.rounder = rnd = MinifloatRounder(cfg.out, width=width, exp_bits=exp_bits)
        m.d.comb += [rnd.sign.eq(sign), rnd.exp.eq(exp), rnd.sig.eq(sig), rnd.zero.eq(zero), rnd.saturate.eq(sat)]
        if cfg.out.special == "fn":  # a NaN sum (only from a NaN operand) is the output's +NaN code
            code = Signal(cfg.out.bits)
            m.d.comb += code.eq(Mux(f32_nan(acc), cfg.out.nan_code, rnd.code))
            return code
        return rnd.code
