"""Options of the flow, the report and the hardware tools: each checked once, before any work starts."""

import math

from .errors import InputError

__all__ = ["MAX_MHZ", "MAX_SEED", "MAX_VECTORS", "check_choice", "check_int", "check_margin", "check_positive",
           "check_range", "int_list", "name_list"]

MAX_VECTORS = 10_000_000  # simulation vectors one run may ask for (10**7 take minutes and about 1 GB)
MAX_SEED = 2**32 - 1  # numpy's and torch's seed range
MAX_MHZ = 10_000.0  # a clock above 10 GHz is a typo at any node


def check_int(option, value, lo, hi=None):
    """An integer in ``[lo, hi]`` (``hi=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{option} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"in {lo}..{hi}" if hi is not None else f"at least {lo}"
        raise InputError(f"{option} must be {rng}, not {value}")
    return value


def check_positive(option, value):
    """A finite number above zero (a clock, a size)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{option} must be a positive number, not {value!r}")
    return value


def check_range(option, value, lo, hi):
    """A finite number in ``[lo, hi]`` (a clock, a time limit)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise InputError(f"{option} must be a number in {lo:g}..{hi:g}, not {value!r}")
    return value


def check_margin(value):
    """The accuracy margin in percentage points: finite, 0..100."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 100:
        raise InputError(f"--error-margin must be a number of percentage points in 0..100, not {value!r}")
    return float(value)


def check_choice(option, value, choices):
    if value not in choices:
        raise InputError(f"{option} must be one of {', '.join(map(str, choices))}, not {value!r}")
    return value


def int_list(option, text, lo, hi):
    """Comma-separated distinct integers in ``[lo, hi]``, e.g. ``--widths 4,6,8``."""
    items = [t.strip() for t in str(text).split(",")]
    if not any(items):
        raise InputError(f"{option} needs at least one integer in {lo}..{hi}, not {text!r}")
    out = []
    for t in items:
        if not t:
            continue
        try:
            v = int(t)
        except ValueError:
            raise InputError(f"{option} takes comma-separated integers in {lo}..{hi}; {t!r} is not one") from None
        if not lo <= v <= hi:
            raise InputError(f"{option} takes integers in {lo}..{hi}, not {v}")
        if v in out:
            raise InputError(f"{option} lists {v} twice; give each value once")
        out.append(v)
    return out


def name_list(option, text, choices):
    """Comma-separated distinct names from ``choices``, e.g. ``--formats dfp,pow2``."""
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise InputError(f"{option} needs at least one of {', '.join(choices)}, not {text!r}")
    bad = [t for t in items if t not in choices]
    if bad:
        raise InputError(f"{option} takes {', '.join(choices)}; {', '.join(map(repr, bad))} "
                         f"{'is' if len(bad) == 1 else 'are'} not one")
    dup = sorted({t for t in items if items.count(t) > 1})
    if dup:
        raise InputError(f"{option} lists {', '.join(dup)} more than once; give each once")
    return items
