"""Number formats: the single source of truth for widths, biases, code layouts and rounding.

Every other part of the project (network simulation, RTL generators, testbenches,
synthesis reports) reads its numbers from the value classes defined here.
"""

from ._base import Format
from .e8m0 import E8M0
from .fixed import DynamicFixedPoint
from .minifloat import Minifloat
from .mx import MXFormat
from .named import NAMED, named
from .pow2 import PowerOfTwo
from .rounding import ROUNDING_MODES

__all__ = ["Format", "DynamicFixedPoint", "E8M0", "Minifloat", "MXFormat", "PowerOfTwo", "ROUNDING_MODES",
           "from_dict", "named", "NAMED", "FLOAT32", "FLOAT16", "BFLOAT16"]

#: IEEE binary32, binary16 and bfloat16 as minifloats (codes are their bit patterns).
FLOAT32 = Minifloat(8, 23, subnormals=True, inf_nan=True)
FLOAT16 = Minifloat(5, 10, subnormals=True, inf_nan=True)
BFLOAT16 = Minifloat(8, 7, subnormals=True, inf_nan=True)

_KINDS = {"dfp": DynamicFixedPoint, "minifloat": Minifloat, "pow2": PowerOfTwo, "e8m0": E8M0}


def from_dict(d):
    """Build a format from ``to_dict()`` output: ``{"kind": ..., **constructor parameters}``.

    Raises
    ------
    TypeError
        If ``d`` is not a dict.
    ValueError
        For a missing or unknown ``kind`` or unknown parameter names.
    """
    if not isinstance(d, dict):
        raise TypeError(f"Format description must be a dict, not {d!r}")
    params = dict(d)
    kind = params.pop("kind", None)
    if kind == "mx":
        return MXFormat.from_dict(d)
    if kind not in _KINDS:
        raise ValueError(
            f"Format kind must be one of {', '.join(map(repr, _KINDS))}, not {kind!r} (in {d!r})"
        )
    cls = _KINDS[kind]
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"Unknown parameter(s) {', '.join(unknown)} for a {kind!r} format; expected {sorted(known)}"
        )
    return cls(**params)
