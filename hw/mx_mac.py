"""MX dot-product unit: one block of element pairs per cycle, exact block sum, scales, float32 accumulation.

The datapath is ``ristretto.datapath.mx`` (its docstring states the model):
each lane's elements stand for exact integers (``value * 2**f``); their
product is the significands' product shifted by the sum of the exponents (an
8x8 signed product for MXINT8), the products are summed exactly by an adder
tree, the block sum times ``2**(sa + sw - 254 - fa - fw)`` is rounded once to
float32 (nearest even, subnormals, overflow to infinity; a NaN scale or a NaN
element gives the quiet NaN), and that value enters an IEEE binary32 adder
(``Float32Adder``) with the running sum.
"""

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..datapath import QNAN, tree_depth, tree_reduce
from ..datapath.mx import MXMacConfig, element_frac_bits, exact_bits
from ..formats import Minifloat
from .bits import f32_nan, leading_zeros, round_shift_right
from .float32_add import Float32Adder
from .minifloat_mac import minifloat_nan, unpack_minifloat

__all__ = ["MXMac"]


@dataclass(frozen=True)
class _Element:
    """An element code's parts: its value times ``2**f`` is ``±(mag << shift)``; ``top`` the largest shift."""

    neg: object
    mag: object
    shift: object  # None for MXINT8 (``q`` is then the signed code)
    top: int
    nan: object
    q: object = None


def _element_parts(m, code, element, lane, name):
    """An element code as an ``_Element``.

    A minifloat's ``mag`` is its significand (hidden bit included, 0 for a zero) and ``shift`` its exponent
    above the format's lowest, so a product is a small significand product shifted into place (not a product
    of the wide aligned integers). An MXINT8 element's ``mag`` is ``|code|`` and ``q`` the signed code.
    """
    if not isinstance(element, Minifloat):  # MXINT8: the code is the integer
        q = code.as_signed()
        mag = Signal(element.bits, name=f"{name}mag{lane}")
        m.d.comb += mag.eq(Mux(q < 0, -q, q))
        return _Element(q < 0, mag, None, 0, Const(0, 1), q)
    sign, exp, sig, zero = unpack_minifloat(m, code, element)
    mag = Signal(element.man_bits + 1, name=f"{name}sig{lane}")
    top = element.emax - element.emin  # the largest shift
    shift = Signal(range(top + 1), name=f"{name}shift{lane}")  # exp >= emin always
    m.d.comb += [shift.eq(exp - element.emin), mag.eq(Mux(zero, 0, sig))]
    return _Element(sign, mag, shift, top, minifloat_nan(code, element))  # e4m3fn: S.1111.111 is NaN


def _product(m, a, w, lane):
    """The exact product of two elements' integers (``_Element``) as a signed signal."""
    if a.shift is None and w.shift is None:  # two MXINT8 elements: one signed multiplier of the codes
        p = Signal(signed(len(a.q) + len(w.q)), name=f"product{lane}")
        m.d.comb += p.eq(a.q * w.q)
        return p
    shifts = [x.shift for x in (a, w) if x.shift is not None]
    shift = shifts[0] if len(shifts) == 1 else shifts[0] + shifts[1]
    mag = Signal(len(a.mag) + len(w.mag), name=f"sigproduct{lane}")
    m.d.comb += mag.eq(a.mag * w.mag)
    placed = Signal(len(mag) + a.top + w.top, name=f"placed{lane}")
    m.d.comb += placed.eq(mag << shift)
    p = Signal(signed(len(placed) + 1), name=f"product{lane}")
    m.d.comb += p.eq(Mux(a.neg ^ w.neg, -placed, placed))
    return p


class MXMac(wiring.Component):
    """An MX dot-product unit of ``config.lanes`` lanes: one block per ``config.cycles_per_block`` valid cycles.

    Ports (clock ``clk``, synchronous active-high ``rst``): ``a``, ``w`` (this
    cycle's element codes, lane i in bits ``[i*B, (i+1)*B)``), ``sa``, ``sw``
    (the two blocks' E8M0 scale codes, read at a block's last cycle), ``valid``
    (the lanes enter the block at this edge; a block's last valid cycle adds its
    value to the sum), ``clear`` (the sum and the block count restart: as the
    value of a block ending at this edge, else +0; with ``bias=True`` as
    ``bias`` plus it, or ``bias``), ``acc`` and ``out`` (the float32 sum's bit
    pattern). Latency 1. With as many lanes as the block, every valid cycle is
    a whole block.
    """

    family = "mx"

    def __init__(self, config, *, stages=0, bias=False):
        self._MustUse__silence = True
        if not isinstance(config, MXMacConfig):
            raise TypeError(f"MXMac takes an MXMacConfig, not {config!r}")
        if stages != 0 or isinstance(stages, bool):
            raise ValueError(f"MX units have no pipeline stages yet (stages 0), not {stages!r}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be a bool, not {bias!r}")
        self._config, self._bias = config, bias
        self._MustUse__silence = False
        n = config.lanes
        ports = {"a": In(n * config.a.element.bits), "w": In(n * config.w.element.bits), "sa": In(8), "sw": In(8),
                 "valid": In(1), "clear": In(1), "acc": Out(32), "out": Out(32)}
        if bias:
            ports["bias"] = In(32)
        super().__init__(ports)

    config = property(lambda self: self._config)
    stages = property(lambda self: 0)
    has_bias = property(lambda self: self._bias)
    latency = property(lambda self: 1)
    tree_depth = property(lambda self: tree_depth(self._config.lanes))
    lanes = property(lambda self: self._config.lanes)

    @property
    def lane_shapes(self):
        return {"a": unsigned(self._config.a.element.bits), "w": unsigned(self._config.w.element.bits)}

    def _block_sum(self, m):
        cfg = self._config
        ba, bw = cfg.a.element.bits, cfg.w.element.bits
        products, nans = [], []
        for i in range(cfg.lanes):
            a = _element_parts(m, self.a[i * ba:(i + 1) * ba], cfg.a.element, i, "a")
            w = _element_parts(m, self.w[i * bw:(i + 1) * bw], cfg.w.element, i, "w")
            products.append(_product(m, a, w, i))
            nans += [a.nan, w.nan]
        nodes = iter(range(cfg.lanes))

        def add(x, y):
            s = Signal(signed(max(len(x), len(y)) + 1), name=f"tree{next(nodes)}")
            m.d.comb += s.eq(x + y)
            return s

        total = tree_reduce(products, add)
        lanesum = Signal.like(total, name="lanesum")
        m.d.comb += lanesum.eq(total)
        nan = Signal()
        m.d.comb += nan.eq(Cat(*nans).any())
        return lanesum, nan

    def _to_float32(self, m, s, nan):
        """``s * 2**(sa + sw - 254 - fa - fw)`` rounded once to a float32 bit pattern."""
        cfg = self._config
        w = len(s)
        f = element_frac_bits(cfg.a.element) + element_frac_bits(cfg.w.element)
        sa, sw = Signal(signed(10)), Signal(signed(10))
        e = Signal(signed(12))  # the exponent of the integer's LSB
        m.d.comb += [sa.eq(self.sa), sw.eq(self.sw), e.eq(sa + sw - (254 + f))]
        neg = s < 0
        mag = Signal(w)
        m.d.comb += mag.eq(Mux(neg, -s, s))
        lz = leading_zeros(m, mag, w)
        top = Signal(signed(13))  # exponent of the leading one
        m.d.comb += top.eq(e + (w - 1) - lz)
        floor = Signal(signed(13))  # the binade of the result (subnormals share -126's)
        m.d.comb += floor.eq(Mux(top < -126, -126, top))
        shift = Signal(signed(14))  # right shift from the integer to a 24-bit significand
        m.d.comb += shift.eq(floor - 23 - e)
        right = round_shift_right(m, mag, w, Mux(shift < 0, 0, shift)[:12], w + 1)  # w + 1 bits
        left = Signal(w + 24)
        m.d.comb += left.eq(mag << Mux(shift < 0, -shift, 0)[:5])  # exact: at most 23 places
        sig = Signal(max(w + 24, 26))
        m.d.comb += sig.eq(Mux(shift < 0, left, right))
        carry = sig[24]  # rounding reached 2**24: one binade up
        field = Signal(signed(14))
        m.d.comb += field.eq(Mux(carry | sig[23], floor + 127 + carry, 0))
        man = Mux(carry, sig[1:24], sig[:23])
        v = Signal(32, name="block_value")
        with m.If(nan | (self.sa == 0xFF) | (self.sw == 0xFF)):
            m.d.comb += v.eq(QNAN)
        with m.Elif(mag == 0):
            m.d.comb += v.eq(0)
        with m.Elif(field >= 0xFF):
            m.d.comb += v.eq(Cat(Const(0, 23), Const(0xFF, 8), neg))
        with m.Else():
            m.d.comb += v.eq(Cat(man, field[:8], neg))
        return v

    def _block(self, m, lanesum, nan):
        """``(s, nan, done)``: the block's exact sum so far including this cycle, its NaN flag, and whether this
        valid cycle ends a block. Fewer lanes than the block: a partial-sum register and a cycle count from
        ``clear`` (which drops a partial block)."""
        cfg = self._config
        per = cfg.cycles_per_block
        if per == 1:
            return lanesum, nan, self.valid
        phase = Signal(range(per))
        part = Signal(signed(exact_bits(cfg.a, cfg.w)), name="block_part")
        part_nan = Signal(name="block_part_nan")
        s = Signal.like(part, name="block_sum")
        s_nan, at = Signal(name="block_nan"), Signal.like(phase, name="block_phase")
        m.d.comb += [s.eq(Mux(self.clear, 0, part) + lanesum), s_nan.eq(~self.clear & part_nan | nan),
                     at.eq(Mux(self.clear, 0, phase))]
        done = Signal(name="block_done")
        m.d.comb += done.eq(self.valid & (at == per - 1))
        with m.If(done | (self.clear & ~self.valid)):
            m.d.sync += [phase.eq(0), part.eq(0), part_nan.eq(0)]
        with m.Elif(self.valid):
            m.d.sync += [phase.eq(at + 1), part.eq(s), part_nan.eq(s_nan)]
        return s, s_nan, done

    def elaborate(self, platform):
        m = Module()
        lanesum, lane_nan = self._block_sum(m)
        s, nan, done = self._block(m, lanesum, lane_nan)
        v = self._to_float32(m, s, nan)
        acc = Signal(32)
        m.submodules.adder = adder = Float32Adder()
        base = Mux(self.clear, self.bias, acc) if self._bias else acc
        m.d.comb += [adder.a.eq(base), adder.b.eq(v)]
        if self._bias:  # the sum restarts from the bias: one adder, its first operand muxed
            with m.If(done):
                m.d.sync += acc.eq(adder.o)
            with m.Elif(self.clear):  # a NaN bias loads as the one NaN the float units produce
                m.d.sync += acc.eq(Mux(f32_nan(self.bias), QNAN, self.bias))
        else:
            with m.If(self.clear):
                m.d.sync += acc.eq(Mux(done, v, 0))
            with m.Elif(done):
                m.d.sync += acc.eq(adder.o)
        m.d.comb += [self.acc.eq(acc), self.out.eq(acc)]
        return m
