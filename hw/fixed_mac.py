"""Fixed-point MAC: signed activation × signed weight, integer accumulator, requantizer."""

from amaranth.hdl import Signal, signed

from .int_mac import IntMac

__all__ = ["FixedMac"]


class FixedMac(IntMac):
    """Dynamic fixed point MAC (the paper's Fig. 1 datapath); see ``IntMac`` for ports."""

    family = "fixed"

    def _weight_shape(self):
        return signed(self._config.w.bits)

    def _product(self, m, a, w, lane):
        p = Signal(signed(self._config.product_bits), name=f"product{lane}")
        m.d.comb += p.eq(a * w)
        return p
