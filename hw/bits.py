"""Small combinational building blocks: round half to even, leading-zero count, rounding right shift."""

from amaranth.hdl import Cat, Const, Mux, Shape, Signal

__all__ = ["f32_nan", "leading_zeros", "round_half_even", "round_shift_right"]


def f32_nan(x):
    """Whether a 32-bit float32 bit pattern is a NaN (exponent all ones, mantissa not zero)."""
    return (x[23:31] == 0xFF) & (x[:23] != 0)


def round_half_even(m, kept, half, sticky):
    """``kept`` rounded to nearest, ties to even: ``kept + (half & (sticky | kept[0]))``, one bit wider.

    ``kept`` holds the bits that stay (signed or unsigned; for a signed value
    they are the floor of the exact quotient), ``half`` the first bit dropped,
    ``sticky`` whether any bit below it is set. The one rounding rule of every
    unit in ``hw/``, equal to ``ristretto.formats.rounding.round_shift``.
    """
    shape = Shape.cast(kept.shape())
    r = Signal(Shape(shape.width + 1, shape.signed))
    m.d.comb += r.eq(kept + (half & (sticky | kept[0])))
    return r


def leading_zeros(m, value, width):
    """Count of leading zeros of ``value[:width]`` (``width`` when it is zero), as a new signal.

    A binary tree of depth log2(width): the upper half's count if it has a set
    bit, else its width plus the lower half's count.
    """
    lz = Signal(range(width + 1))
    if width == 1:
        m.d.comb += lz.eq(~value[0])
        return lz
    hi_w = width // 2
    lo_w = width - hi_w
    hi = leading_zeros(m, value[lo_w:width], hi_w)
    lo = leading_zeros(m, value[:lo_w], lo_w)
    m.d.comb += lz.eq(Mux(hi == hi_w, hi_w + lo, hi))
    return lz


def round_shift_right(m, value, width, amount, max_amount):
    """``round_half_even(value / 2**amount)`` for an unsigned ``width``-bit value and a variable amount.

    ``amount`` is clamped to ``max_amount``; the result has ``width + 1`` bits
    (a carry out of the top is possible). This is the integer rule of
    ``ristretto.formats.rounding.round_shift``.
    """
    amt = Signal(range(max_amount + 1))
    m.d.comb += amt.eq(Mux(amount > max_amount, max_amount, amount))
    ext = Signal(width + 2)
    m.d.comb += ext.eq(Cat(Const(0, 2), value[:width]))
    t = Signal(width + 2)
    m.d.comb += t.eq(ext >> amt)
    lost = Signal()
    m.d.comb += lost.eq((t << amt)[: width + 2] != ext)
    return round_half_even(m, t[2:], t[1], t[0] | lost)
