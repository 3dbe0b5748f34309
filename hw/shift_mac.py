"""Barrel-shifter (multiplier-free) MAC: the activation shifted by a power-of-two weight."""

from amaranth.hdl import Mux, Signal, signed, unsigned

from .int_mac import IntMac

__all__ = ["ShiftMac"]


class ShiftMac(IntMac):
    """Multiplier-free MAC: weight code sign | exponent code; see ``IntMac`` for ports.

    The product is ``±(a << (e - exp_min))`` (zero for the zero code), so the
    accumulator carries ``a.frac_bits - exp_min`` fractional bits.
    """

    family = "shift"

    def _weight_shape(self):
        return unsigned(self._config.w.bits)

    def _product(self, m, a, w, lane):
        cfg = self._config
        mag_bits = cfg.w.bits - 1
        k, sign = w[:mag_bits], w[mag_bits]
        shift = Signal(range(cfg.max_shift + 1), name=f"shift{lane}")
        m.d.comb += shift.eq(k - int(cfg.w.zero))
        shifted = Signal(signed(cfg.product_bits), name=f"shifted{lane}")
        m.d.comb += shifted.eq(a << shift)
        if cfg.w.zero:
            shifted_or_zero = Mux(k == 0, 0, shifted)
        else:
            shifted_or_zero = shifted
        p = Signal(signed(cfg.product_bits), name=f"product{lane}")
        m.d.comb += p.eq(Mux(sign, -shifted_or_zero, shifted_or_zero))
        return p
