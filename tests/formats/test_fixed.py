"""Dynamic fixed point: range, saturation, codes, validation."""

import pytest
import torch

from ristretto.formats import DynamicFixedPoint


def test_range_and_step():
    f = DynamicFixedPoint(8, 5)
    assert (f.max_value, f.min_value, f.min_positive, f.step) == (127 / 32, -4.0, 1 / 32, 1 / 32)
    assert (f.min_code, f.max_code, f.slug) == (-128, 127, "dfp8f5")
    assert DynamicFixedPoint(4, -2).max_value == 28.0 and DynamicFixedPoint(4, -2).slug == "dfp4fm2"
    assert DynamicFixedPoint(4, 9).max_value == 7 / 512


def test_saturates_and_codes_are_twos_complement_values():
    f = DynamicFixedPoint(8, 5)
    x = torch.tensor([100.0, -100.0, 1.0, -1.0, 0.015625, 0.046875])
    assert f.quantize(x).tolist() == [127 / 32, -4.0, 1.0, -1.0, 0.0, 0.0625]
    assert f.encode(x).tolist() == [127, -128, 32, -32, 0, 2]
    assert f.encode(x, rounding="nearest_away").tolist()[-2:] == [1, 2]


def test_widest_format_is_exact_in_float32():
    f = DynamicFixedPoint(24, 0)
    codes = torch.tensor([-(2**23), 2**23 - 1, 1234567])
    assert torch.equal(f.encode(f.decode(codes)), codes)


@pytest.mark.parametrize(("args", "exc", "msg"), [
    ((1, 0), ValueError, r"^Word width \(bits\) must be in \[2, 24\], not 1$"),
    ((25, 0), ValueError, r"^Word width \(bits\) must be in \[2, 24\], not 25$"),
    ((8, 101), ValueError, r"^Fractional length \(frac_bits\) must be in \[-100, 100\], not 101$"),
    ((8.0, 3), TypeError, r"^Word width \(bits\) must be an integer, not 8.0$"),
    ((8, True), TypeError, r"^Fractional length \(frac_bits\) must be an integer, not True$"),
])
def test_invalid_parameters_are_refused_with_the_bad_value(args, exc, msg):
    with pytest.raises(exc, match=msg):
        DynamicFixedPoint(*args)


def test_requantize_codes_equals_encode_where_float_is_exact():
    g = torch.Generator().manual_seed(0)
    acc = torch.randint(-(2**23), 2**23, (100_000,), generator=g)
    acc = torch.cat([acc, torch.arange(-64, 64)])
    for fmt in (DynamicFixedPoint(8, 3), DynamicFixedPoint(8, -4), DynamicFixedPoint(12, 14)):
        for acc_frac in (0, 7, 10, 20):
            want = fmt.encode(acc.double() * 2.0**-acc_frac)
            assert torch.equal(fmt.requantize_codes(acc, acc_frac), want)


def test_requantize_codes_handles_wide_accumulators_exactly():
    f = DynamicFixedPoint(8, 0)
    acc = torch.tensor([2**31 - 1, -(2**31), 5 * 2**20 + 2**19, 7 * 2**20 + 2**19, 3 * 2**19])
    assert f.requantize_codes(acc, 20).tolist() == [127, -128, 6, 8, 2]
