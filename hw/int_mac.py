"""Integer accumulation and requantized output, shared by the fixed-point and barrel-shifter MACs."""

from amaranth.hdl import Mux, Signal, signed

from ..datapath import IntMacConfig
from .mac import Mac
from .requantizer import Requantizer

__all__ = ["IntMac", "int_fit"]


def int_fit(value, acc_fmt):
    """Signed ``value`` under the accumulator's overflow policy, to be assigned to the accumulator.

    Wrapping is the assignment itself: ``eq`` truncates a wider value and
    sign-extends a narrower one.
    """
    if acc_fmt.overflow == "saturate":
        return Mux(value > acc_fmt.max_code, acc_fmt.max_code, Mux(value < acc_fmt.min_code, acc_fmt.min_code, value))
    return value


class IntMac(Mac):
    """Base of the integer MACs: ``ACC``-bit accumulator (wrap or saturate), requantizer output."""

    config_type = IntMacConfig

    def _shapes(self):
        cfg = self._config
        return signed(cfg.a.bits), self._weight_shape(), signed(cfg.acc_bits), signed(cfg.out.bits)

    def _tree_add(self, m, x, y, node):
        s = Signal(signed(max(len(x), len(y)) + 1), name=f"tree{node}")  # exact: one bit of growth per level
        m.d.comb += s.eq(x + y)
        return s

    def _start(self, m, p):
        return int_fit(p, self._config.accumulator)

    def _add(self, m, acc, p):
        cfg = self._config
        total = Signal(signed(max(cfg.acc_bits, cfg.tree_bits) + 1))
        m.d.comb += total.eq(acc + p)
        return int_fit(total, cfg.accumulator)

    def _output(self, m, acc):
        cfg = self._config
        m.submodules.requantizer = rq = Requantizer(
            in_bits=cfg.acc_bits, shift=cfg.accumulator.frac_bits - cfg.out.frac_bits, out_bits=cfg.out.bits)
        m.d.comb += rq.i.eq(acc)
        return rq.o
