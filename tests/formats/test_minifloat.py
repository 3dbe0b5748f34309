"""Minifloat: IEEE cross-checks against torch and ml_dtypes, paper semantics, validation."""

import math

import ml_dtypes
import numpy as np
import pytest
import torch

from ristretto.formats import Minifloat

SPECIALS = [0.0, -0.0, math.inf, -math.inf, math.nan, 65504.0, 65519.996, 65520.0, -65520.0,
            2.0**-24, 2.0**-25, 1.5 * 2.0**-25, 2.0**-26, 3.0e38, -3.0e38, 1.0e-40, 2.0**-133]


def _wide_random(n=400_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g) * torch.exp2(torch.randint(-150, 128, (n,), generator=g).float())
    return torch.cat([x, torch.tensor(SPECIALS)])


def _bits(t):
    return t.view(torch.int32)


@pytest.mark.parametrize(("fmt", "dtype"), [
    (Minifloat(5, 10, subnormals=True, inf_nan=True), torch.float16),
    (Minifloat(8, 7, subnormals=True, inf_nan=True), torch.bfloat16),
])
def test_reproduces_torch_casts_bit_for_bit(fmt, dtype):
    x = _wide_random()
    nan = torch.isnan(x)
    q, want = fmt.quantize(x), x.to(dtype).float()
    assert torch.equal(_bits(q[~nan]), _bits(want[~nan]))  # NaN payloads are not values
    assert torch.equal(torch.isnan(q), nan)
    raw = x.to(dtype).view(torch.int16).to(torch.int64) & 0xFFFF
    assert torch.equal(fmt.encode(x)[~nan], raw[~nan])
    assert torch.equal(_bits(fmt.decode(raw[~nan])), _bits(x.to(dtype).float()[~nan]))


@pytest.mark.parametrize(("fmt", "dtype"), [
    (Minifloat(5, 2, subnormals=True, inf_nan=True), ml_dtypes.float8_e5m2),
])
def test_reproduces_ml_dtypes_float8(fmt, dtype):
    x = _wide_random().numpy()
    want = x.astype(dtype)
    assert np.array_equal(fmt.quantize(x), want.astype(np.float32), equal_nan=True)
    finite = ~np.isnan(x)
    assert np.array_equal(fmt.encode(x)[finite], want.view(np.uint8).astype(np.int64)[finite])
    codes = np.arange(256)
    assert np.array_equal(fmt.decode(codes), codes.astype(np.uint8).view(dtype).astype(np.float32),
                          equal_nan=True)


def test_paper_semantics_have_no_specials_and_flush_below_the_smallest_normal():
    fmt = Minifloat(4, 3)  # bias 7, every exponent code normal
    assert (fmt.bits, fmt.bias, fmt.emin, fmt.emax) == (8, 7, -6, 8)
    assert fmt.max_value == 480.0 and fmt.min_positive == 2.0**-6
    x = torch.tensor([1e9, -math.inf, 2.0**-7, 1.01 * 2.0**-7, 0.99 * 2.0**-7, 2.0**-6])
    assert fmt.quantize(x).tolist() == [480.0, -480.0, 0.0, 2.0**-6, 0.0, 2.0**-6]
    assert fmt.quantize(x, rounding="nearest_away").tolist()[2] == 2.0**-6


def test_ieee_toward_zero_overflows_to_the_largest_finite_value():
    fmt = Minifloat(5, 10, subnormals=True, inf_nan=True)
    x = torch.tensor([1e6, -1e6, math.inf])
    assert fmt.quantize(x, rounding="toward_zero").tolist() == [65504.0, -65504.0, math.inf]
    assert fmt.quantize(x).tolist() == [math.inf, -math.inf, math.inf]


def test_nan_propagates_with_ieee_specials():
    fmt = Minifloat(4, 3, inf_nan=True)
    assert math.isnan(fmt.quantize(torch.tensor([math.nan])).item())
    assert fmt.encode(torch.tensor([math.nan])).item() == 0b0_1111_100


def test_sign_of_zero_is_kept():
    fmt = Minifloat(4, 3)
    q = fmt.quantize(torch.tensor([-0.0, -1e-9]))
    assert torch.signbit(q).tolist() == [True, True]
    assert fmt.encode(q).tolist() == [0x80, 0x80]


def test_codes_enumerate_canonical_patterns_only():
    assert len(Minifloat(4, 3).codes()) == 256 - 2 * 7  # exponent 0 with a mantissa: zeros
    assert len(Minifloat(4, 3, subnormals=True, inf_nan=True).codes()) == 256 - 2 * 6


@pytest.mark.parametrize(("args", "kwargs", "exc", "msg"), [
    ((0, 3), {}, ValueError, r"^Exponent width \(exp_bits\) must be in \[1, 8\], not 0$"),
    ((4, 24), {}, ValueError, r"^Mantissa width \(man_bits\) must be in \[0, 23\], not 24$"),
    ((4.0, 3), {}, TypeError, r"^Exponent width \(exp_bits\) must be an integer, not 4.0$"),
    ((4, 3), {"subnormals": 1}, TypeError, r"^subnormals must be a bool, not 1$"),
    ((4, 0), {"inf_nan": True}, ValueError, r"man_bits=0, inf_nan=True\) has no NaN code; use man_bits >= 1"),
    ((1, 2), {"inf_nan": True}, ValueError, r"^Minifloat\(exp_bits=1, inf_nan=True\) has no finite"),
    ((8, 7), {}, ValueError, r"^Minifloat\(exp_bits=8, man_bits=7, bias=127.*outside float32; choose a bias"),
    ((4, 3), {"bias": 300}, ValueError, r"^Exponent bias \(bias\) must be in \[-256, 256\], not 300$"),
])
def test_invalid_parameters_are_refused_with_the_bad_value(args, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        Minifloat(*args, **kwargs)


@pytest.mark.parametrize("fmt", [Minifloat(4, 3), Minifloat(4, 3, subnormals=True), Minifloat(5, 2, inf_nan=True),
                                 Minifloat(4, 3, special="fn"), Minifloat(4, 0, special="fn"),
                                 Minifloat(4, 3, special="fnuz"), Minifloat(3, 2, bias=1)], ids=repr)
def test_code_properties_are_those_encode_and_decode_use(fmt):
    """``max_code``, ``nan_code`` and ``lsb_exp`` (what the hardware generators take) agree with the numerics."""
    assert float(fmt.decode(torch.tensor([fmt.max_code]))[0]) == fmt.max_value
    assert int(fmt.encode(torch.tensor([fmt.max_value]))[0]) == fmt.max_code
    if fmt.inf_nan or fmt.special:
        assert int(fmt.encode(torch.tensor([float("nan")]))[0]) == fmt.nan_code
    else:
        assert fmt.nan_code is None
    values = fmt.decode(fmt.codes()).double()
    values = values[torch.isfinite(values)]
    assert torch.equal(values * 2.0**-fmt.lsb_exp, torch.round(values * 2.0**-fmt.lsb_exp))
    assert float(values.abs()[values != 0].min()) == fmt.min_positive >= 2.0**fmt.lsb_exp
