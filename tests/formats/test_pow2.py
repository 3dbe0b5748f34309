"""Power-of-two weights: the paper's format, log vs linear rounding, zero, validation."""

import math

import pytest
import torch

from ristretto.formats import PowerOfTwo


def test_paper_format():
    f = PowerOfTwo(4, -8, -1, zero=False)
    assert (f.max_value, f.min_positive, f.slug) == (0.5, 2.0**-8, "pow4em8em1nz")
    assert len(f.codes()) == 16
    # a zero weight became +2**-8 in the original
    assert f.quantize(torch.tensor([0.0, -0.0, 1e-9, -1e-9])).tolist() == [2**-8, 2**-8, 2**-8, -(2**-8)]
    assert f.quantize(torch.tensor([3.0, -math.inf])).tolist() == [0.5, -0.5]


def test_log_rounding_splits_a_binade_at_sqrt2_linear_at_one_and_a_half():
    f = PowerOfTwo(5, -8, 3)
    below, above = math.sqrt(2) * (1 - 1e-6), math.sqrt(2) * (1 + 1e-6)
    x = torch.tensor([below, above, 1.49, 1.51])
    assert f.quantize(x, rounding="log").tolist() == [1.0, 2.0, 2.0, 2.0]
    assert f.quantize(x).tolist() == [1.0, 1.0, 1.0, 2.0]
    # the float32 just below sqrt(2) stays, the one just above goes up
    s_lo = torch.tensor([math.sqrt(2)], dtype=torch.float32)
    s_hi = torch.nextafter(s_lo, torch.tensor([2.0]))
    s_lo = torch.nextafter(s_hi, torch.tensor([0.0]))
    assert f.quantize(torch.cat([s_lo, s_hi]), rounding="log").tolist() in ([1.0, 2.0], [2.0, 2.0])
    assert f.quantize(s_lo.double(), rounding="log").item() == (2.0 if s_lo.double().item() > math.sqrt(2)
                                                               else 1.0)


def test_ties_go_to_the_even_exponent_code():
    f = PowerOfTwo(5, -8, 3)  # code of 2**e is e + 9
    x = torch.tensor([1.5, 3.0, 0.75])  # ties between 1|2, 2|4, 0.5|1
    assert f.quantize(x).tolist() == [2.0, 2.0, 0.5]
    assert f.quantize(x, rounding="nearest_away").tolist() == [2.0, 4.0, 1.0]


def test_zero_code_and_linear_rule_below_the_smallest_power():
    f = PowerOfTwo(4, -7, -1)
    x = torch.tensor([2.0**-8, 1.01 * 2.0**-8, 0.99 * 2.0**-8])
    assert f.quantize(x).tolist() == [0.0, 2.0**-7, 0.0]
    assert f.quantize(x, rounding="log").tolist() == [0.0, 2.0**-7, 0.0]
    assert f.encode(torch.tensor([0.0, -0.0, 2.0**-7, -0.5])).tolist() == [0, 8, 1, 8 | 7]


@pytest.mark.parametrize(("args", "kwargs", "exc", "msg"), [
    ((4, -8, -1), {}, ValueError,
     r"^Exponents -8..-1 and zero need 9 codes, but 3 exponent-code bits hold 8; widen bits or narrow"),
    ((4, 0, -1), {}, ValueError, r"^exp_max \(-1\) must not be below exp_min \(0\)$"),
    ((1, 0, 0), {}, ValueError, r"^Code width \(bits\) must be in \[2, 9\], not 1$"),
    ((4, -200, 0), {}, ValueError, r"^Smallest exponent \(exp_min\) must be in \[-126, 126\], not -200$"),
    ((4, -2, 0), {"zero": None}, TypeError, r"^zero must be a bool, not None$"),
])
def test_invalid_parameters_are_refused_with_the_bad_value(args, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        PowerOfTwo(*args, **kwargs)


def test_decode_refuses_unused_exponent_codes():
    with pytest.raises(ValueError, match=r"^Code 7 has exponent code above 6, unused in PowerOfTwo"):
        PowerOfTwo(4, -6, -1).decode(torch.tensor([7]))
