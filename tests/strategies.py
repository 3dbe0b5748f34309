"""Shared format lists, hypothesis strategies and an independent reference grid."""

import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from ristretto.formats import DynamicFixedPoint, Minifloat, PowerOfTwo


@st.composite
def dfp_formats(draw, max_bits=24):
    return DynamicFixedPoint(draw(st.integers(2, max_bits)), draw(st.integers(-30, 40)))


@st.composite
def minifloat_formats(draw, max_bits=32):
    e = draw(st.integers(1, 8))
    m = draw(st.integers(0, min(23, max_bits - 1 - e)))
    default = (1 << (e - 1)) - 1
    bias = draw(st.one_of(st.just(default), st.integers(default - 8, default + 8)))
    try:
        return Minifloat(e, m, bias=bias, subnormals=draw(st.booleans()), inf_nan=draw(st.booleans()))
    except ValueError:
        assume(False)


@st.composite
def pow2_formats(draw, max_bits=9):
    bits = draw(st.integers(2, max_bits))
    zero = draw(st.booleans())
    span = draw(st.integers(1, min(253, (1 << (bits - 1)) - zero)))
    lo = draw(st.integers(-126, 127 - span))
    return PowerOfTwo(bits, lo, lo + span - 1, zero=zero)


def formats(max_bits=24):
    return st.one_of(dfp_formats(min(max_bits, 24)), minifloat_formats(max_bits), pow2_formats(min(max_bits, 9)))


def small_formats():
    """A fixed list of <= 12-bit formats covering every family and option."""
    out = [DynamicFixedPoint(b, f) for b in (2, 3, 5, 8, 12) for f in (-3, 0, 4, 15)]
    for e in range(1, 6):
        for m in (0, 1, 3, 6):
            if 1 + e + m > 12:
                continue
            for sub in (False, True):
                for ieee in (False, True):
                    if ieee and (m == 0 or e == 1):
                        continue
                    out.append(Minifloat(e, m, subnormals=sub, inf_nan=ieee))
    out.append(Minifloat(4, 3, bias=3))
    out += [PowerOfTwo(4, -8, -1, zero=False), PowerOfTwo(4, -7, -1), PowerOfTwo(5, -10, 3),
            PowerOfTwo(3, 0, 2), PowerOfTwo(8, -60, 60, zero=False)]
    return out


def reference_value(fmt, code):
    """The value of one code, computed with Python integers and math.ldexp only."""
    d = fmt.to_dict()
    if d["kind"] == "dfp":
        return math.ldexp(code, -fmt.frac_bits)
    sign = -1.0 if code >> (fmt.bits - 1) else 1.0
    if d["kind"] == "pow2":
        k = code & ((1 << (fmt.bits - 1)) - 1)
        if fmt.zero and k == 0:
            return sign * 0.0
        return sign * math.ldexp(1.0, k + fmt.exp_min - fmt.zero)
    man = code & ((1 << fmt.man_bits) - 1)
    ex = (code >> fmt.man_bits) & ((1 << fmt.exp_bits) - 1)
    if fmt.inf_nan and ex == (1 << fmt.exp_bits) - 1:
        return sign * math.inf if man == 0 else math.copysign(math.nan, sign)
    if ex == 0:
        return sign * (math.ldexp(man, 1 - fmt.bias - fmt.man_bits) if fmt.subnormals else 0.0)
    return sign * math.ldexp((1 << fmt.man_bits) + man, ex - fmt.bias - fmt.man_bits)


def reference_grid(fmt):
    """Sorted finite values of the format and one code for each (+0 preferred).

    For the sign-symmetric formats (minifloat, power of two) only magnitudes.
    """
    pairs = {}
    for c in fmt.codes().tolist():
        v = reference_value(fmt, c)
        if not math.isfinite(v) or (fmt.to_dict()["kind"] != "dfp" and math.copysign(1, v) < 0):
            continue
        pairs.setdefault(v, c)
    vals = np.array(sorted(pairs), dtype=np.float64)
    return vals, np.array([pairs[v] for v in vals], dtype=np.int64)


def reference_round(fmt, x, rounding):
    """Brute-force rounding of float64 ``x`` onto the reference grid (finite results)."""
    vals, codes = reference_grid(fmt)
    symmetric = fmt.to_dict()["kind"] != "dfp"
    xc = np.clip(np.abs(x) if symmetric else x, vals[0], vals[-1])
    hi_i = np.clip(np.searchsorted(vals, xc, side="left"), 0, len(vals) - 1)
    lo_i = np.where(vals[hi_i] == xc, hi_i, np.maximum(hi_i - 1, 0))
    lo, hi = vals[lo_i], vals[hi_i]
    dlo, dhi = xc - lo, hi - xc
    if rounding == "toward_zero":
        up = xc < 0
    elif rounding == "log":  # magnitudes only; linear next to zero
        with np.errstate(divide="ignore", invalid="ignore"):
            up = np.where(lo == 0, xc > hi / 2,
                          np.abs(np.log2(hi) - np.log2(xc)) < np.abs(np.log2(xc) - np.log2(lo)))
    else:
        if rounding == "nearest_away":
            tie_up = np.abs(hi) > np.abs(lo)
        else:  # nearest_even: the even code; if both are even, the smaller magnitude
            lo_even, hi_even = codes[lo_i] % 2 == 0, codes[hi_i] % 2 == 0
            tie_up = np.where(lo_even & hi_even, np.abs(hi) < np.abs(lo), hi_even)  # man_bits = 0 too
        up = np.where(dlo == dhi, tie_up, dhi < dlo)
    out = np.where(lo == hi, lo, np.where(up, hi, lo))
    return np.where(x == 0, out, np.copysign(out, x)) if symmetric else out
