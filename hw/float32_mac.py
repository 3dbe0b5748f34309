"""The float32 baseline MAC of the paper's Table III."""

from amaranth.hdl import unsigned

from ..datapath import Float32MacConfig
from .float32_add import Float32Adder
from .float32_mul import Float32Multiplier
from .mac import Mac

__all__ = ["Float32Mac"]


class Float32Mac(Mac):
    """Float32 × float32 (flush-to-zero multiplier), IEEE float32 accumulation; ``out`` is ``acc``.

    Subnormals: the multiplier treats subnormal inputs as zero and flushes
    subnormal products; the adder keeps subnormals (full IEEE). Specials: NaN
    becomes the quiet NaN 0x7FC00000, inf × 0 and inf - inf give NaN.
    """

    family = "float32"
    config_type = Float32MacConfig

    def _shapes(self):
        return unsigned(32), unsigned(32), unsigned(32), unsigned(32)

    def _product(self, m, a, w, lane):
        m.submodules[f"multiplier{lane}"] = mul = Float32Multiplier()
        m.d.comb += [mul.a.eq(a), mul.b.eq(w)]
        return mul.o

    def _tree_add(self, m, x, y, node):
        m.submodules[f"tree{node}"] = adder = Float32Adder()
        m.d.comb += [adder.a.eq(x), adder.b.eq(y)]
        return adder.o

    def _start(self, m, p):
        return p

    def _add(self, m, acc, p):
        m.submodules.adder = adder = Float32Adder()
        m.d.comb += [adder.a.eq(acc), adder.b.eq(p)]
        return adder.o

    def _output(self, m, acc):
        return acc
