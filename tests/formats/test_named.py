"""Named formats (OCP FP8/FP6/FP4, IEEE) equal ml_dtypes code for code, and rounding equals its casts."""

import dataclasses

import numpy as np
import pytest
import torch

from ristretto.formats import NAMED, Minifloat, from_dict, named

ml_dtypes = pytest.importorskip("ml_dtypes")


def _dtype(name):
    return {"float16": np.float16}.get(name) or getattr(ml_dtypes, name)


def _raw(codes, bits):
    return codes.astype(np.uint16 if bits > 8 else np.uint8)


def _as_codes(values, dtype, bits):
    return values.astype(dtype).view(np.uint16 if bits > 8 else np.uint8).astype(np.int64)


def _nonsat(f):
    """The NaN-producing variant ml_dtypes casts implement (saturation is OCP's default, ours too)."""
    return dataclasses.replace(f, saturating=False) if getattr(f, "special", None) else f


@pytest.mark.parametrize("name", list(NAMED))
def test_every_code_decodes_as_ml_dtypes(name):
    f = named(name)
    codes = np.arange(1 << f.bits, dtype=np.int64)
    theirs = _raw(codes, f.bits).view(_dtype(name)).astype(np.float32)
    ours = f.decode(torch.from_numpy(codes)).numpy()
    nan = np.isnan(theirs)
    assert np.array_equal(np.isnan(ours), nan)
    assert np.array_equal(ours[~nan].view(np.int32), theirs[~nan].view(np.int32))  # signed zeros too
    assert f.max_value == float(ml_dtypes.finfo(_dtype(name)).max) if name != "float16" else True


def _adversarial(f, rng, n=100_000):
    vals = f.decode(f.codes()).numpy().astype(np.float64)
    vals = np.unique(vals[np.isfinite(vals)])
    mids = ((vals[1:] + vals[:-1]) / 2).astype(np.float32)  # ties
    near = np.concatenate([np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(-np.inf))])
    with np.errstate(over="ignore"):  # twice bfloat16's largest is inf in float32: fine, inf is tested too
        special = np.array([0.0, -0.0, np.inf, -np.inf, 2 * f.max_value, -3 * f.max_value, f.max_value], np.float32)
    bits = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32).view(np.float32)  # every binade
    x = np.concatenate([vals.astype(np.float32), mids, near, special, bits])
    return x[~np.isnan(x)]


@pytest.mark.parametrize("name", list(NAMED))
def test_float32_inputs_round_as_ml_dtypes_casts(name):
    f = _nonsat(named(name))
    x = _adversarial(f, np.random.default_rng(0))
    with np.errstate(over="ignore"):
        theirs = x.astype(_dtype(name)).astype(np.float32)
        codes = _as_codes(x, _dtype(name), f.bits)
    ours = f.quantize(torch.from_numpy(x)).numpy()
    nan = np.isnan(theirs)
    assert np.array_equal(np.isnan(ours), nan)
    same = ~nan
    if name == "float8_e8m0fnu":
        # ml_dtypes sends float32 subnormals in (2**-127, 2**-126) to 2**-126 (e.g. 1.18 * 2**-127); the
        # nearest power of two there is 2**-127 below 1.5 * 2**-127. Everything else agrees.
        sub = (np.abs(x) < 2.0**-126) & (x > 0)
        assert np.all(ours[sub] == np.where(x[sub] >= 1.5 * 2.0**-127, 2.0**-126, 2.0**-127).astype(np.float32))
        assert np.all(sub[~nan & (ours != theirs)])
        same &= ~sub
    assert np.array_equal(ours[same].view(np.int32), theirs[same].view(np.int32))
    assert np.array_equal(f.encode(torch.from_numpy(x)).numpy()[same], codes[same])


def _exact_nearest_even(f, x):
    """An independent rounder: the nearest finite value of the format, ties to the even code."""
    codes = f.codes()
    vals = f.decode(codes).numpy().astype(np.float64)
    keep = np.isfinite(vals) & ~((vals == 0) & np.signbit(vals))
    vals, codes = vals[keep], codes.numpy()[keep]
    order = np.argsort(vals)
    vals, codes = vals[order], codes[order]
    i = np.clip(np.searchsorted(vals, x), 1, len(vals) - 1)
    lo, hi = vals[i - 1], vals[i]
    pick_hi = (hi - x < x - lo) | ((hi - x == x - lo) & (codes[i] % 2 == 0))
    return np.where(pick_hi, hi, lo)


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float6_e3m2fn",
                                  "float4_e2m1fn"])
def test_float64_inputs_round_exactly(name):
    """We round float64 once, to the nearest value. ml_dtypes equals that wherever it rounds once.

    ml_dtypes before 0.7 cast float64 through float32, so just off a tie it rounded twice; 0.7 rounds
    once. Either is accepted, and nothing else: every disagreement must be exactly the double rounding.
    """
    f = named(name)
    vals = f.decode(f.codes()).numpy().astype(np.float64)
    vals = np.unique(vals[np.isfinite(vals)])
    mids = (vals[1:] + vals[:-1]) / 2
    x = np.concatenate([mids * (1 + 2.0**-40), mids * (1 - 2.0**-40), mids,
                        np.random.default_rng(1).uniform(-f.max_value, f.max_value, 50_000)])
    ours = f.quantize(torch.from_numpy(x)).numpy()
    exact = _exact_nearest_even(f, x)
    assert np.array_equal(np.abs(ours), np.abs(exact)) and np.array_equal(ours[ours != 0], exact[ours != 0])
    via32 = x.astype(np.float32).astype(np.float64) == x  # where float32 holds x, every version rounds once
    theirs = x.astype(_dtype(name)).astype(np.float64)
    assert np.array_equal(ours[via32], theirs[via32])
    twice = f.quantize(torch.from_numpy(x.astype(np.float32))).numpy().astype(np.float64)  # via float32
    differ = ours != theirs
    assert np.all(~via32[differ]) and np.array_equal(theirs[differ], twice[differ])
    assert np.any(twice != ours)  # the inputs do reach the double-rounding cases, so the test can tell them


def test_saturation_and_specials():
    fn, fnuz = named("float8_e4m3fn"), named("float8_e4m3fnuz")
    x = torch.tensor([464.0, 470.0, 1e9, float("inf"), -float("inf"), float("nan")])
    assert fn.quantize(x)[:5].tolist() == [448.0, 448.0, 448.0, 448.0, -448.0] and fn.quantize(x)[5].isnan()
    assert _nonsat(fn).quantize(x)[1:5].isnan().all() and _nonsat(fn).quantize(x)[0] == 448.0  # tie to even
    assert fn.encode(torch.tensor([float("nan"), -float("nan")])).tolist() == [0x7F, 0xFF]
    assert fnuz.encode(torch.tensor([-1e-9, -0.0, float("nan"), -1.0])).tolist() == [0, 0, 0x80, 0xC0]
    assert torch.signbit(fnuz.quantize(torch.tensor([-1e-9, -0.0]))).tolist() == [False, False]
    assert [f.slug for f in (fn, fnuz, _nonsat(fn))] == ["mf8e4m3sfn", "mf8e4m3b8sfnuz", "mf8e4m3sfnnan"]
    for f in (fn, fnuz, _nonsat(fnuz), named("float8_e5m2")):
        assert from_dict(f.to_dict()) == f and eval(repr(f), {"Minifloat": Minifloat}) == f
    assert "special" not in named("float8_e5m2").to_dict()  # the IEEE and paper encodings' dicts are unchanged


@pytest.mark.parametrize(("kwargs", "exc", "msg"), [
    ({"special": "ocp"}, ValueError, r"^special must be None, 'fn' or 'fnuz', not 'ocp'$"),
    ({"special": "fn", "inf_nan": True}, ValueError, r"^special='fn' is a finite encoding: it excludes inf_nan=True$"),
    ({"saturating": False}, ValueError, r"^saturating=False \(overflow to NaN\) needs a special encoding"),
    ({"special": "fn", "saturating": 0}, TypeError, r"^saturating must be a bool, not 0$"),
])
def test_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        Minifloat(4, 3, **kwargs)
    with pytest.raises(ValueError, match=r"^Unknown format name 'float8_e4m3b11'; known: float8_e4m3fn, "):
        named("float8_e4m3b11")


@pytest.mark.parametrize("fmt", [Minifloat(2, 0), Minifloat(3, 0), Minifloat(3, 0, subnormals=True),
                                 Minifloat(4, 0, bias=5), Minifloat(2, 0, special="fn"),
                                 Minifloat(4, 3, subnormals=True)],
                         ids=lambda f: f.slug)
def test_ties_go_to_the_even_code_also_without_mantissa_bits(fmt):
    """The one tie rule of every minifloat, man_bits = 0 included: the nearest value, ties to the even code
    (e2m0: 3.0 -> 2.0, code 2; -3.0 -> -2.0, code 6)."""
    vals = fmt.decode(fmt.codes()).numpy().astype(np.float64)
    vals = np.unique(vals[np.isfinite(vals)])
    x = np.concatenate([(vals[1:] + vals[:-1]) / 2, vals, np.random.default_rng(2).uniform(-fmt.max_value,
                                                                                          fmt.max_value, 5000)])
    for dtype in (np.float64, np.float32):
        xs = x.astype(dtype)
        ours = fmt.quantize(torch.from_numpy(xs)).numpy().astype(np.float64)
        exact = _exact_nearest_even(fmt, xs.astype(np.float64))
        assert np.array_equal(np.abs(ours), np.abs(exact)) and np.array_equal(ours[ours != 0], exact[ours != 0])
    if fmt == Minifloat(2, 0):
        assert fmt.quantize(torch.tensor([3.0, -3.0, 1.5])).tolist() == [2.0, -2.0, 2.0]
        assert fmt.encode(torch.tensor([3.0, -3.0])).tolist() == [2, 6]
