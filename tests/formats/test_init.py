"""Format value objects: dict and repr round trips, slugs, from_dict errors."""

import pytest
from hypothesis import given, settings
from strategies import formats, small_formats

from ristretto import formats as fm
from ristretto.formats import DynamicFixedPoint, Minifloat, PowerOfTwo, from_dict


@settings(max_examples=200, deadline=None)
@given(fmt=formats(max_bits=32))
def test_dict_and_repr_round_trip(fmt):
    assert from_dict(fmt.to_dict()) == fmt
    assert eval(repr(fmt), vars(fm)) == fmt
    assert fmt.slug.isidentifier() and fmt.slug.isascii()
    assert fmt.min_value <= -fmt.min_positive < 0 < fmt.min_positive <= fmt.max_value


def test_slugs_are_unique_and_stable():
    fmts = small_formats()
    assert len({f.slug for f in fmts}) == len(set(fmts))
    assert [DynamicFixedPoint(8, 5).slug, Minifloat(4, 3).slug, Minifloat(5, 10, subnormals=True,
            inf_nan=True).slug, Minifloat(4, 3, bias=-2).slug, PowerOfTwo(4, -8, -1, zero=False).slug] == [
        "dfp8f5", "mf8e4m3", "mf16e5m10si", "mf8e4m3bm2", "pow4em8em1nz"]


def test_defaults_are_resolved_so_equal_formats_compare_equal():
    assert Minifloat(4, 3) == Minifloat(4, 3, bias=7)
    assert hash(Minifloat(4, 3)) == hash(Minifloat(4, 3, bias=7))


@pytest.mark.parametrize(("d", "exc", "msg"), [
    ([1], TypeError, r"^Format description must be a dict, not \[1\]$"),
    ({"bits": 8}, ValueError, r"^Format kind must be one of 'dfp', 'minifloat', 'pow2', 'e8m0', not None \(in"),
    ({"kind": "posit"}, ValueError, r"^Format kind must be one of .*, not 'posit'"),
    ({"kind": "dfp", "bits": 8, "frac_bits": 2, "fl": 3}, ValueError,
     r"^Unknown parameter\(s\) fl for a 'dfp' format; expected \['bits', 'frac_bits'\]$"),
])
def test_from_dict_errors(d, exc, msg):
    with pytest.raises(exc, match=msg):
        from_dict(d)
