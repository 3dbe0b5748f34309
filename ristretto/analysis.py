"""Error statistics of a format: the paper's Table V and SQNR."""

import math

import torch

from .formats import DynamicFixedPoint, Minifloat, PowerOfTwo

__all__ = ["max_abs_error", "sqnr_db", "table_v", "table_v_formats"]


def max_abs_error(fmt, lo, hi, samples=1 << 20, rounding="nearest_even"):
    """Largest ``|quantize(x) - x|`` over ``x`` in ``[lo, hi]`` (float64 evaluation).

    Samples a uniform grid plus every midpoint between neighbouring format
    values inside the interval, where the maximum of a nearest rounding lies.
    """
    x = torch.linspace(lo, hi, samples, dtype=torch.float64)
    v = fmt.decode(fmt.codes()).double().unique()
    v = v[torch.isfinite(v) & (v >= lo) & (v <= hi)]
    x = torch.cat([x, (v[1:] + v[:-1]) / 2])
    return float((fmt.quantize(x, rounding=rounding) - x).abs().max())


def sqnr_db(x, q):
    """Signal-to-quantization-noise ratio ``10 log10(sum x^2 / sum (x - q)^2)`` in dB."""
    x, q = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(q, dtype=torch.float64)
    noise = float(((x - q) ** 2).sum())
    signal = float((x**2).sum())
    return math.inf if noise == 0 else 10 * math.log10(signal / noise)


def table_v_formats(bits=8, exp_bits=4, k=3):
    """Formats of ``bits`` bits whose range is [-x, x] with x = 2**k (the top of their range)."""
    top = (1 << exp_bits) - 1
    return {
        "dynamic fixed point": DynamicFixedPoint(bits, bits - 1 - k),
        "minifloat": Minifloat(exp_bits, bits - 1 - exp_bits, bias=top - (k - 1)),
        "power of two": PowerOfTwo(bits, k - (1 << (bits - 1)) + 2, k),
    }


def table_v(bits=8, exp_bits=4, k=3):
    """Paper Table V: predicted and measured max error for a range [-x, x], x = 2**k.

    Returns a list of ``(name, format, predicted, measured)``.
    """
    x = 2.0**k
    predicted = {"dynamic fixed point": x / 2**bits, "minifloat": x / 2 ** (bits - exp_bits + 1),
                 "power of two": x / 4}
    rows = []
    for name, fmt in table_v_formats(bits, exp_bits, k).items():
        rows.append((name, fmt, predicted[name], max_abs_error(fmt, fmt.min_value, fmt.max_value)))
    return rows
