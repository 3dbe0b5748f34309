"""Error statistics: the paper's Table V reproduced exactly, SQNR."""

import math

import pytest
import torch

from ristretto.analysis import max_abs_error, sqnr_db, table_v
from ristretto.formats import DynamicFixedPoint


@pytest.mark.parametrize(("bits", "exp_bits", "k"), [(8, 4, 3), (8, 5, 0), (6, 3, -2), (7, 4, 7)])
def test_table_v_max_error_matches_the_paper_formulas(bits, exp_bits, k):
    rows = table_v(bits, exp_bits, k)
    assert [r[0] for r in rows] == ["dynamic fixed point", "minifloat", "power of two"]
    for _, fmt, predicted, measured in rows:
        assert fmt.bits == bits
        assert measured == predicted


def test_max_error_of_a_wrong_grid_is_not_the_formula():
    # a format one bit narrower has twice the error: the measurement can fail
    assert max_abs_error(DynamicFixedPoint(7, 3), -8, 7.875) == 2 * 8 / 2**8


def test_sqnr():
    x = torch.tensor([1.0, -1.0])
    assert sqnr_db(x, x) == math.inf
    assert sqnr_db(x, x * 0.9) == pytest.approx(20.0)
