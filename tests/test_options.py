"""Option checks: every edge gets one clear message."""

import math

import pytest

from ristretto.errors import InputError
from ristretto.options import check_int, check_margin, check_positive, int_list, name_list


def test_int_list():
    assert int_list("--widths", "4, 6,8", 2, 16) == [4, 6, 8]
    for text, msg in (("4.5", r"'4\.5' is not one"), ("1", r"in 2\.\.16, not 1"), ("4,4", "lists 4 twice"),
                      ("", "at least one integer"), (" , ", "at least one integer")):
        with pytest.raises(InputError, match=msg):
            int_list("--widths", text, 2, 16)


def test_name_list():
    assert name_list("--formats", "dfp,pow2", ("dfp", "pow2")) == ["dfp", "pow2"]
    with pytest.raises(InputError, match=r"^--formats takes dfp, pow2; 'x' is not one$"):
        name_list("--formats", "dfp,x", ("dfp", "pow2"))
    with pytest.raises(InputError, match=r"lists dfp more than once"):
        name_list("--formats", "dfp,dfp", ("dfp", "pow2"))


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, 100.5, "1", True, None])
def test_margin(bad):
    with pytest.raises(InputError, match=r"^--error-margin must be a number of percentage points in 0\.\.100"):
        check_margin(bad)
    assert check_margin(0) == 0.0 and check_margin(100) == 100.0


def test_ints_and_positives():
    assert check_int("--topk", 1, 1) == 1
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(InputError, match=r"^--topk must be"):
            check_int("--topk", bad, 1, 5)
    for bad in (0, -1, math.nan, math.inf, "100"):
        with pytest.raises(InputError, match=r"^--clock-mhz must be a positive number"):
            check_positive("--clock-mhz", bad)
