"""The port contract and pipeline every MAC shares."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Mac"]


class Mac(wiring.Component):
    """Base of all MAC units.

    Ports (clock domain ``sync``: ``clk`` and synchronous active-high ``rst``):
    ``a``, ``w``, ``valid`` (a×w enters the accumulation at this rising edge),
    ``clear`` (at this edge the sum restarts as this edge's product if
    ``valid``, else zero), ``acc`` (raw accumulator) and ``out`` (the sum in the
    output format). After the last product, ``out`` is stable ``latency``
    rising edges later.

    Subclasses set ``family`` and implement ``_shapes()`` (a, w, acc, out),
    ``_product(m)``, ``_start(m, p)`` (accumulator value of a lone product),
    ``_add(m, acc, p)`` and ``_output(m, acc)``.

    Parameters
    ----------
    config
        The datapath configuration (``ristretto.datapath``) of this family.
    stages : int
        Extra pipeline registers: 0 (none), 1 (after the product), 2 (and after the output).
    """

    family = None
    config_type = None

    def __init__(self, config, *, stages=0):
        # A refused object must not warn as an unused elaboratable.
        self._MustUse__silence = True
        if not isinstance(config, self.config_type):
            raise TypeError(f"{type(self).__name__} takes a config of type {self.config_type.__name__}, not {config!r}")
        if config.family != self.family:
            raise ValueError(f"{type(self).__name__} needs {self.family!r} weights, not {config.w!r}")
        if isinstance(stages, bool) or stages not in (0, 1, 2):
            raise ValueError(f"stages must be 0, 1 or 2, not {stages!r}")
        self._config, self._stages = config, stages
        self._MustUse__silence = False
        a, w, acc, out = self._shapes()
        super().__init__({"a": In(a), "w": In(w), "valid": In(1), "clear": In(1), "acc": Out(acc), "out": Out(out)})

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

    def elaborate(self, platform):
        m = Module()
        product = self._product(m)
        valid, clear = self.valid, self.clear
        if self._stages >= 1:
            p_reg, v_reg, c_reg = Signal.like(product), Signal(), Signal()
            m.d.sync += [p_reg.eq(product), v_reg.eq(valid), c_reg.eq(clear)]
            product, valid, clear = p_reg, v_reg, c_reg

        acc = Signal(self.acc.shape())
        with m.If(clear):
            with m.If(valid):
                m.d.sync += acc.eq(self._start(m, product))
            with m.Else():
                m.d.sync += acc.eq(0)
        with m.Elif(valid):
            m.d.sync += acc.eq(self._add(m, acc, product))
        m.d.comb += self.acc.eq(acc)

        out = self._output(m, acc)
        if self._stages >= 2:
            m.d.sync += self.out.eq(out)
        else:
            m.d.comb += self.out.eq(out)
        return m
