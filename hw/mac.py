"""The port contract and pipeline every MAC shares."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..datapath import tree_depth, tree_reduce

__all__ = ["Mac"]


class Mac(wiring.Component):
    """Base of all MAC units.

    Ports (clock domain ``sync``: ``clk`` and synchronous active-high ``rst``):
    ``a``, ``w``, ``valid`` (a×w enters the accumulation at this rising edge),
    ``clear`` (at this edge the sum restarts as this edge's product if
    ``valid``, else zero), ``acc`` (raw accumulator) and ``out`` (the sum in the
    output format). With ``bias=True`` a ``bias`` port (accumulator encoding)
    is preloaded: at ``clear`` the sum restarts as ``bias`` plus this edge's
    product if ``valid``, else ``bias`` (how an accelerator adds a layer's
    bias). After the last product, ``out`` is stable ``latency`` rising edges
    later.

    A unit of ``config.lanes`` = N > 1 lanes is a dot-product unit: ``a`` and
    ``w`` are flat vectors of N codes (lane i in bits ``[i*B, (i+1)*B)`` of the
    port, B the code width); the N products are summed by an adder tree in the
    order of ``ristretto.datapath.lanes`` and the tree's sum takes the place
    of the lone product above. One lane keeps the MAC's ports exactly.

    Subclasses set ``family`` and implement ``_shapes()`` (a, w, acc, out of one
    lane), ``_product(m, a, w, lane)``, ``_tree_add(m, x, y, node)``,
    ``_start(m, p)`` (accumulator value of a lone sum), ``_add(m, acc, p)`` and
    ``_output(m, acc)``.

    Parameters
    ----------
    config
        The datapath configuration (``ristretto.datapath``) of this family.
    stages : int
        Extra pipeline registers: 0 (none), 1 (after the product, or the adder
        tree's sum), 2 (and after the output).
    """

    family = None
    config_type = None

    def __init__(self, config, *, stages=0, bias=False):
        # A refused object must not warn as an unused elaboratable.
        self._MustUse__silence = True
        if not isinstance(config, self.config_type):
            raise TypeError(f"{type(self).__name__} takes a config of type {self.config_type.__name__}, not {config!r}")
        if config.family != self.family:
            raise ValueError(f"{type(self).__name__} needs {self.family!r} weights, not {config.w!r}")
        if isinstance(stages, bool) or stages not in (0, 1, 2):
            raise ValueError(f"stages must be 0, 1 or 2, not {stages!r}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, not {bias!r}")
        self._config, self._stages, self._bias = config, stages, bias
        self._MustUse__silence = False
        a, w, acc, out = self._shapes()
        self._lane_shapes = {"a": a, "w": w}
        if config.lanes > 1:
            a, w = unsigned(config.lanes * a.width), unsigned(config.lanes * w.width)
        ports = {"a": In(a), "w": In(w), "valid": In(1), "clear": In(1), "acc": Out(acc), "out": Out(out)}
        if bias:
            ports["bias"] = In(acc)
        super().__init__(ports)

    @property
    def config(self):
        return self._config

    @property
    def stages(self):
        return self._stages

    @property
    def has_bias(self):
        """Whether the MAC has a ``bias`` port preloaded into the sum at ``clear``."""
        return self._bias

    @property
    def lanes(self):
        return self._config.lanes

    @property
    def latency(self):
        """Rising edges from the last product to a stable ``out``."""
        return 1 + self._stages

    @property
    def lane_shapes(self):
        """``{"a": shape, "w": shape}`` of one lane's code."""
        return dict(self._lane_shapes)

    def _lane(self, port, i):
        shape = self._lane_shapes[port]
        if self.lanes == 1:
            return getattr(self, port)
        v = getattr(self, port)[i * shape.width:(i + 1) * shape.width]
        return v.as_signed() if shape.signed else v

    def elaborate(self, platform):
        m = Module()
        products = [self._product(m, self._lane("a", i), self._lane("w", i), i) for i in range(self.lanes)]
        nodes = iter(range(self.lanes))
        product = tree_reduce(products, lambda x, y: self._tree_add(m, x, y, next(nodes)))
        if self.lanes > 1:  # named: ``hw prove`` cuts the proof here (the tree against the reference's plain sum)
            lanesum = Signal.like(product, name="lanesum")
            m.d.comb += lanesum.eq(product)
            product = lanesum
        valid, clear = self.valid, self.clear
        bias = self.bias if self._bias else None
        if self._stages >= 1:
            p_reg, v_reg, c_reg = Signal.like(product), Signal(), Signal()
            m.d.sync += [p_reg.eq(product), v_reg.eq(valid), c_reg.eq(clear)]
            product, valid, clear = p_reg, v_reg, c_reg
            if bias is not None:
                b_reg = Signal.like(bias)
                m.d.sync += b_reg.eq(bias)
                bias = b_reg

        acc = Signal(self.acc.shape())
        if bias is None:
            with m.If(clear):
                with m.If(valid):
                    m.d.sync += acc.eq(self._start(m, product))
                with m.Else():
                    m.d.sync += acc.eq(0)
            with m.Elif(valid):
                m.d.sync += acc.eq(self._add(m, acc, product))
        else:  # the sum restarts from the bias: one adder, its first operand muxed
            base = Signal.like(acc)
            m.d.comb += base.eq(Mux(clear, bias, acc))
            with m.If(valid):
                m.d.sync += acc.eq(self._add(m, base, product))
            with m.Elif(clear):
                m.d.sync += acc.eq(bias)
        m.d.comb += self.acc.eq(acc)

        out = self._output(m, acc)
        if self._stages >= 2:
            m.d.sync += self.out.eq(out)
        else:
            m.d.comb += self.out.eq(out)
        return m

    @property
    def tree_depth(self):
        """Adder levels of the lane tree (0 for one lane)."""
        return tree_depth(self.lanes)
