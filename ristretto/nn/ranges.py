"""Range analysis: statistics of each layer group over calibration batches, and format choice rules."""

import dataclasses
import math
from dataclasses import dataclass, field

import torch

from ..analysis import sqnr_db
from ..formats import DynamicFixedPoint, Minifloat, PowerOfTwo, named
from .convert import quant_layers

__all__ = ["GroupStats", "RULES", "calibrate", "choose_dfp", "choose_fp8", "choose_minifloat", "choose_pow2",
           "group_report"]

RULES = ("max", "percentile", "mse")
_SAMPLE = 1 << 15  # values kept per group for percentile and MSE choices


@dataclass
class GroupStats:
    """Observed range of one tensor group: max |x|, min, max, and a uniform sample of values."""

    absmax: float = 0.0
    lo: float = math.inf
    hi: float = -math.inf
    count: int = 0
    sample: list = field(default_factory=list)

    def add(self, t, gen):
        t = t.detach().float().reshape(-1).cpu()
        self.absmax = max(self.absmax, float(t.abs().max()))
        self.lo, self.hi = min(self.lo, float(t.min())), max(self.hi, float(t.max()))
        self.count += t.numel()
        k = min(t.numel(), _SAMPLE)
        self.sample.append(t[torch.randint(0, t.numel(), (k,), generator=gen)])

    def values(self):
        v = torch.cat(self.sample) if self.sample else torch.zeros(1)
        return v[:: max(1, len(v) // _SAMPLE)]


def calibrate(net, batches):
    """Run float forward passes over ``batches`` and return ``{layer: {group: GroupStats}}``."""
    layers = quant_layers(net)
    stats = {name: {} for name in layers}
    names = {id(m): n for n, m in layers.items()}
    gen = torch.Generator().manual_seed(0)

    def observe(layer, group, t):
        entry = stats[names[id(layer)]]
        if group in ("weight", "bias") and group in entry:
            return  # parameters: once
        entry.setdefault(group, GroupStats()).add(t, gen)

    for layer in layers.values():
        layer.observer = observe
    try:
        with torch.no_grad():
            for x in batches:
                net(x)
    finally:
        for layer in layers.values():
            layer.observer = None
    return stats


def _mse(fmt, v):
    return float(((fmt.quantize(v) - v) ** 2).mean())


def _pick(cands, v, rule):
    cands = [c for c in cands if c is not None]
    return min(cands, key=lambda f: _mse(f, v)) if rule == "mse" else cands[0]


def _bound(stats, rule, percentile):
    if rule == "percentile":
        return float(torch.quantile(stats.values().abs(), percentile / 100.0))
    return stats.absmax


def choose_dfp(stats, bits, rule="max", *, activation=False, percentile=99.99):
    """Fractional length for ``bits``-bit dynamic fixed point.

    ``max`` is the original rule: ``il = ceil(log2(max|x|)) + 1`` for parameters,
    one bit less for activations (the largest ones clip); ``percentile`` applies
    the parameter rule to the given percentile of |x|; ``mse`` picks the
    fractional length with the least squared error on the sample, searched
    around the ``max`` choice.
    """
    m = _bound(stats, rule, percentile)
    il = (math.ceil(math.log2(m)) + (0 if activation and rule == "max" else 1)) if m > 0 else 1
    fl = max(-100, min(100, bits - il))
    if rule != "mse":
        return DynamicFixedPoint(bits, fl)
    return _pick([DynamicFixedPoint(bits, f) for f in range(max(-100, fl - 1), min(100, fl + 4))],
                 stats.values(), rule)


def default_exp_bits(bits):
    """Exponent width for a minifloat of ``bits`` bits (4 at 8 bits, as in the paper)."""
    return max(1, min(5, bits - 4)) if bits < 8 else 4 if bits < 12 else 5


def _minifloat_or_none(e, m, bias):
    try:
        return Minifloat(e, m, bias=bias)
    except ValueError:
        return None


def choose_minifloat(stats, bits, rule="max", *, exp_bits=None, percentile=99.99):
    """Minifloat of ``bits`` bits (paper semantics) whose bias puts ``max|x|`` in range.

    ``mse`` also tries other exponent widths and biases near the ``max`` choice.
    """
    e = exp_bits or default_exp_bits(bits)
    if not 1 <= e <= bits - 1:
        raise ValueError(f"A {bits}-bit minifloat cannot have {e} exponent bits")

    def for_range(e, bound):
        m = bits - 1 - e
        top = (1 << e) - 1
        emax = math.ceil(math.log2(bound / (2 - 2.0**-m))) if bound > 0 else 0
        return top - emax

    bound = _bound(stats, rule, percentile)
    bias = for_range(e, bound)
    first = _minifloat_or_none(e, bits - 1 - e, bias)
    if rule != "mse":
        if first is None:
            raise ValueError(f"No {bits}-bit minifloat with {e} exponent bits covers max |x| = {bound:g}")
        return first
    cands = [first] + [_minifloat_or_none(ee, bits - 1 - ee, for_range(ee, bound) + d)
                       for ee in range(1, min(6, bits - 1) + 1) for d in range(-1, 3)]
    return _pick(cands, stats.values(), rule)


def choose_fp8(stats, rule="max", *, percentile=99.99, element="float8_e4m3fn"):
    """OCP FP8 (``element``: ``float8_e4m3fn`` or ``float8_e5m2``) scaled by a power of two, as a bias: the
    finest that holds ``max|x|``.

    The format keeps the element's codes (e4m3fn: subnormals, NaN at
    S.1111.111, no infinities, saturating; e5m2: IEEE-style inf and NaN) with
    its exponent bias moved by the scale's exponent, so it is exactly what ONNX
    ``QuantizeLinear`` to float8e4m3fn / float8e5m2 with a power-of-two scale
    computes. ``mse`` also tries the neighbouring scales.
    """
    if element not in ("float8_e4m3fn", "float8_e5m2"):
        raise ValueError(f"fp8 elements are float8_e4m3fn and float8_e5m2, not {element!r}")
    base = named(element)
    bound = _bound(stats, rule, percentile)
    b = base.bias + (math.floor(math.log2(base.max_value / bound)) if bound > 0 else 0)

    def fmt(bias):
        try:
            return dataclasses.replace(base, bias=bias)
        except ValueError:
            return None

    cands = [fmt(b)] if rule != "mse" else [fmt(b + d) for d in range(-1, 3)]
    cands = [c for c in cands if c is not None]
    if not cands:
        raise ValueError(f"No power-of-two scale of {element} covers max |x| = {bound:g} within float32")
    return _pick(cands, stats.values(), rule)


POW2_MAX_SPAN = 16


def choose_pow2(stats, bits, rule="max", *, zero=False, percentile=99.99, max_span=POW2_MAX_SPAN):
    """Power-of-two weights of ``bits`` bits: ``exp_max`` from log-rounded ``max|w|``, the range below it.

    The range spans at most ``max_span`` exponents (16: down to ``2**-15`` of the
    largest weight), however wide the code: smaller weights change no sum
    measurably, and each extra exponent widens the barrel shifter and the
    accumulator by a bit (a 5-bit code already holds 16; 8-bit codes would
    need 128-position shifters and 140-bit accumulators).
    """
    bound = _bound(stats, rule, percentile)
    exp_max = round(math.log2(bound)) if bound > 0 else 0
    span = min(max_span, (1 << (bits - 1)) - int(zero))

    def fmt(top):
        top = max(-126 + span - 1, min(126, top))
        return PowerOfTwo(bits, top - span + 1, top, zero=zero)

    if rule != "mse":
        return fmt(exp_max)
    return _pick([fmt(exp_max + d) for d in range(-2, 2)], stats.values(), rule)


def group_report(stats, fmt, rounding="nearest_even"):
    """Observed range, chosen format, fraction clipped and SQNR (dB) of one group.

    An MX format is applied to the sampled values in blocks of consecutive values (the sample does not keep
    the dot products' blocks); ``clipped`` is then the fraction its elements saturated (the OCP scale rule
    leaves the top of a block's range above the element's largest value)."""
    from ..formats import MXFormat

    v = stats.values()
    q = fmt.quantize(v, rounding="log" if rounding == "log" else "nearest_even")
    if isinstance(fmt, MXFormat):  # saturated: the element's largest magnitude, below the value
        top = fmt.element.decode(fmt.encode(v)[0]).abs() == fmt.element.max_value
        clipped = float((top & (v.abs() > q.abs())).double().mean())
    else:
        clipped = float(((v > fmt.max_value) | (v < fmt.min_value)).double().mean())
    return {"min": stats.lo, "max": stats.hi, "absmax": stats.absmax, "format": fmt.to_dict(), "slug": fmt.slug,
            "clipped": clipped, "sqnr_db": sqnr_db(v, q)}



