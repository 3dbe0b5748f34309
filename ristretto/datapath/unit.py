"""Which unit computes a layer: one mapping from a layer's formats and options to a MAC configuration.

The network's exact mode, the real-trace extraction of the testbenches and the
report all ask this module, so a layer simulated in software and the unit the
report synthesizes are the same unit.
"""

import math

import torch

from ..formats import DynamicFixedPoint, Minifloat, PowerOfTwo
from ..formats.rounding import round_shift
from .floating import MinifloatMacConfig, f32_bits
from .integer import OVERFLOW_POLICIES, IntMacConfig
from .sizing import ACC_LIMIT, int_accumulator_bound, signed_width

__all__ = ["ACCUMULATORS", "accumulator_bound", "bias_preload", "is_fixed_sum", "layer_unit", "resolve_accumulator"]

ACCUMULATORS = ("auto", "exact", "fp32")  #: minifloat layers: how the unit sums products
EXACT_AUTO_BITS = 8  #: ``auto`` sums minifloat operands of at most this many bits in an exact fixed-point register


def _integer(a, w, out=None):
    """Integer-family operands (and output, when given)."""
    return isinstance(a, DynamicFixedPoint) and isinstance(w, (DynamicFixedPoint, PowerOfTwo)) and \
        (out is None or isinstance(out, DynamicFixedPoint))


def _plain_minifloat(*fmts):
    """Minifloats a unit takes: no inf codes; OCP ``fn`` (a NaN code, saturating) only with float32 adders."""
    return all(isinstance(f, Minifloat) and not f.inf_nan and f.special in (None, "fn") and f.saturating
               for f in fmts)


def resolve_accumulator(a, w, out, accumulator="auto"):
    """``exact`` or ``fp32`` for a minifloat layer (None for others).

    ``auto`` is ``exact`` when both operands have at most 8 bits and one
    product fits the 53-bit exact accumulator, else ``fp32``; always ``fp32``
    for OCP ``fn`` formats (the ``fp8`` scheme), whose NaN code a fixed-point
    sum cannot hold (``exact`` is refused for them).
    """
    if accumulator not in ACCUMULATORS:
        raise ValueError(f"accumulator must be one of {', '.join(ACCUMULATORS)}, not {accumulator!r}")
    if not _plain_minifloat(a, w, out):
        return None
    if any(f.special for f in (a, w, out)):  # a NaN code: only float32 adders carry it
        if accumulator == "exact":
            raise ValueError(f"OCP fn formats ({a.slug} x {w.slug} -> {out.slug}) have a NaN code, which an exact "
                             "fixed-point sum cannot hold: use accumulator fp32 (or auto)")
        return "fp32"
    if accumulator != "auto":
        return accumulator
    if max(a.bits, w.bits) > EXACT_AUTO_BITS:
        return "fp32"
    try:
        MinifloatMacConfig(a, w, out, "exact", ACC_LIMIT)
    except ValueError:
        return "fp32"
    return "exact"


def accumulator_bound(a, w, bias, fan_in):
    """Worst-case ``|sum|`` in accumulator LSBs of ``fan_in`` products plus the largest bias, fixed-point sums.

    Integer families: ``int_accumulator_bound``. Minifloat with an exact
    accumulator: every product at ``max|a| * max|w|`` plus the bias format's
    largest value, at the accumulator's scale (rounded up).
    """
    if _integer(a, w):
        return int_accumulator_bound(a, w, bias, fan_in)
    cfg = MinifloatMacConfig(a, w, a, "exact", ACC_LIMIT)
    scale = 2.0**cfg.product_frac_bits
    total = fan_in * round(a.max_value * w.max_value * scale)
    if bias is not None:
        total += math.ceil(bias.max_value * scale)
    return total


def layer_unit(a, w, out, *, fan_in, bias=None, acc_bits="bound", overflow="wrap", accumulator="auto", lanes=1):
    """The MAC configuration of the unit that computes a layer, or None where no unit is generated.

    Parameters
    ----------
    a, w, out, bias : formats of the layer's input, weight, output and bias (bias None: no bias).
    fan_in : int
        Products per output (the dot product's length).
    acc_bits : "bound" or int
        Accumulator width of fixed-point sums: ``bound`` is the width that can
        never overflow (capped at 53); an int is used as given.
    overflow : "wrap" or "saturate"
    accumulator : "auto", "exact" or "fp32"
        Minifloat layers: exact fixed-point sum or float32 adders (see ``resolve_accumulator``).
    lanes : int
        Lanes of the dot-product unit (1..64).

    Returns
    -------
    IntMacConfig, MinifloatMacConfig or None
        None for formats no generator builds (mixed families, minifloats with
        inf/NaN or OCP special codes); exact mode then uses float32 adders in
        the same tree order.
    """
    if overflow not in OVERFLOW_POLICIES:
        raise ValueError(f"overflow must be 'wrap' or 'saturate', not {overflow!r}")
    mode = resolve_accumulator(a, w, out, accumulator)
    if not _integer(a, w, out) and mode is None:
        return None
    if mode == "fp32":
        return MinifloatMacConfig(a, w, out, "fp32", lanes=lanes)
    if acc_bits == "bound":
        acc_bits = min(ACC_LIMIT, signed_width(accumulator_bound(a, w, bias, fan_in)))
    if mode == "exact":
        return MinifloatMacConfig(a, w, out, "exact", acc_bits, overflow, lanes)
    return IntMacConfig(a, w, out, acc_bits, overflow, lanes)


def is_fixed_sum(cfg):
    """Whether the unit sums in a fixed-point register (integer families, exact minifloat)."""
    return isinstance(cfg, IntMacConfig) or (isinstance(cfg, MinifloatMacConfig) and cfg.accumulator == "exact")


def bias_preload(cfg, bias_fmt, bias):
    """The bias as the unit preloads it at ``clear``: accumulator codes (int64 tensor).

    Fixed-point sums: the bias value rounded to the accumulator's LSB, nearest
    even. Float32 sums: the float32 bit pattern of the bias value.
    """
    q = bias_fmt.quantize(bias.detach().float())
    if not is_fixed_sum(cfg):
        return torch.from_numpy(f32_bits(q.cpu().numpy())).to(bias.device)
    if isinstance(cfg, IntMacConfig) and isinstance(bias_fmt, DynamicFixedPoint):
        return round_shift(bias_fmt.encode(bias.detach()), bias_fmt.frac_bits - cfg.accumulator.frac_bits)
    frac = cfg.accumulator.frac_bits if isinstance(cfg, IntMacConfig) else cfg.product_frac_bits
    return torch.round(q.double() * 2.0**frac).to(torch.int64)
