"""Formats by their ml_dtypes / OCP names (float8_e4m3fn, float4_e2m1fn, ...)."""

from .e8m0 import E8M0
from .minifloat import Minifloat

__all__ = ["NAMED", "named"]


def _ieee(e, m):
    return Minifloat(e, m, subnormals=True, inf_nan=True)


#: name -> format; every one equals the ml_dtypes (or torch) type of that name, code for code
NAMED = {
    "float8_e4m3fn": Minifloat(4, 3, subnormals=True, special="fn"),
    "float8_e4m3fnuz": Minifloat(4, 3, bias=8, subnormals=True, special="fnuz"),
    "float8_e4m3": _ieee(4, 3),
    "float8_e5m2": _ieee(5, 2),
    "float8_e5m2fnuz": Minifloat(5, 2, bias=16, subnormals=True, special="fnuz"),
    "float8_e3m4": _ieee(3, 4),
    # the OCP MX element types: finite, with no NaN either (every code a number)
    "float6_e2m3fn": Minifloat(2, 3, subnormals=True),
    "float6_e3m2fn": Minifloat(3, 2, subnormals=True),
    "float4_e2m1fn": Minifloat(2, 1, subnormals=True),
    "float8_e8m0fnu": E8M0(),
    "float16": _ieee(5, 10),
    "bfloat16": _ieee(8, 7),
}


def named(name):
    """The format of an ml_dtypes type name, e.g. ``named("float8_e4m3fn")``.

    Raises
    ------
    ValueError
        For a name that is not one of ``NAMED`` (the message lists them).
    """
    if name not in NAMED:
        raise ValueError(f"Unknown format name {name!r}; known: {', '.join(NAMED)}")
    return NAMED[name]
