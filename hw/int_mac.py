"""The pipeline, accumulator and output stage shared by the integer MACs."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..datapath import IntMacConfig
from .requantizer import Requantizer

__all__ = ["IntMac"]


class IntMac(wiring.Component):
    """Base of the integer MACs; subclasses define the weight port and the product.

    Ports (clock domain ``sync``: ``clk``, synchronous active-high ``rst``):
    ``a``, ``w``, ``valid`` (a×w enters the accumulation at this edge), ``clear``
    (at this edge the sum restarts as this edge's product if ``valid``, else
    zero), ``acc`` (raw accumulator) and ``out`` (requantized). After the last
    product, ``out`` is stable ``latency`` edges later.

    Parameters
    ----------
    config : IntMacConfig
    stages : int
        Extra pipeline registers: 0 (none), 1 (product), 2 (product and output).
    """

    family = None

    def __init__(self, config, *, stages=0):
        # Until validation passes, this object must not warn as an unused elaboratable.
        self._MustUse__silence = True
        if not isinstance(config, IntMacConfig):
            raise TypeError(f"config must be an IntMacConfig, not {config!r}")
        if config.family != self.family:
            raise ValueError(f"{type(self).__name__} needs {self.family!r} weights, not {config.w!r}")
        if isinstance(stages, bool) or stages not in (0, 1, 2):
            raise ValueError(f"stages must be 0, 1 or 2, not {stages!r}")
        self._config, self._stages = config, stages
        self._MustUse__silence = False
        super().__init__({
            "a": In(signed(config.a.bits)),
            "w": In(self._weight_shape()),
            "valid": In(1),
            "clear": In(1),
            "acc": Out(signed(config.acc_bits)),
            "out": Out(signed(config.out.bits)),
        })

    @property
    def config(self):
        return self._config

    @property
    def stages(self):
        return self._stages

    @property
    def latency(self):
        """Rising edges from the last product to a stable ``out``."""
        return 1 + self._stages

    def _weight_shape(self):
        raise NotImplementedError

    def _product(self, m):
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        cfg, acc_fmt = self._config, self._config.accumulator
        product = self._product(m)
        valid, clear = self.valid, self.clear
        if self._stages >= 1:
            p_reg = Signal.like(product)
            v_reg, c_reg = Signal(), Signal()
            m.d.sync += [p_reg.eq(product), v_reg.eq(valid), c_reg.eq(clear)]
            product, valid, clear = p_reg, v_reg, c_reg

        acc = Signal(signed(cfg.acc_bits))
        base = Mux(clear, 0, acc)
        total = Signal(signed(max(cfg.acc_bits, cfg.product_bits) + 1))
        m.d.comb += total.eq(base + Mux(valid, product, 0))
        if acc_fmt.overflow == "saturate":
            nxt = Mux(total > acc_fmt.max_code, acc_fmt.max_code,
                      Mux(total < acc_fmt.min_code, acc_fmt.min_code, total))
        else:
            nxt = total[: cfg.acc_bits]
        m.d.sync += acc.eq(nxt)
        m.d.comb += self.acc.eq(acc)

        m.submodules.requantizer = rq = Requantizer(
            in_bits=cfg.acc_bits, shift=acc_fmt.frac_bits - cfg.out.frac_bits, out_bits=cfg.out.bits)
        m.d.comb += rq.i.eq(acc)
        if self._stages >= 2:
            m.d.sync += self.out.eq(rq.o)
        else:
            m.d.comb += self.out.eq(rq.o)
        return m
