"""Accumulator sizing: the width that can never overflow (worst case) and the one the data needs."""

from .integer import IntMacConfig

__all__ = ["ACC_LIMIT", "int_accumulator_bound", "signed_width"]

ACC_LIMIT = 53  # widest accumulator the exact simulation (and IntAccumulator) supports


def signed_width(maxabs):
    """Smallest two's complement width holding every integer in ``[-maxabs, maxabs]`` (at least 2)."""
    return max(2, int(maxabs).bit_length() + 1)


def int_accumulator_bound(a, w, bias, fan_in):
    """Worst-case ``|sum|`` in accumulator LSBs of a fixed-point or shift MAC over ``fan_in`` products.

    Every product at its largest magnitude (``-2**(bits-1)`` codes), all of one
    sign, plus the largest bias the ``bias`` format holds, preloaded at the
    accumulator's scale (rounded, as the hardware preloads it).

    Parameters
    ----------
    a, w : formats of the activation (DFP) and the weight (DFP or power of two).
    bias : DynamicFixedPoint or None
    fan_in : int
        Products summed per output.
    """
    cfg = IntMacConfig(a, w, a, acc_bits=ACC_LIMIT)  # raises for products wider than the limit
    w_max = 1 << (w.bits - 1) if cfg.family == "fixed" else 1 << cfg.max_shift
    total = fan_in * (1 << (a.bits - 1)) * w_max
    if bias is not None:
        shift = cfg.accumulator.frac_bits - bias.frac_bits
        top = 1 << (bias.bits - 1)
        total += top << shift if shift >= 0 else -(-top >> -shift)  # ceil for a right shift
    return total
