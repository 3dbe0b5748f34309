"""Properties shared by every format: containers, invariants, exhaustive reference checks."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from strategies import formats, reference_round, reference_value, small_formats

from ristretto.formats import DynamicFixedPoint, Minifloat, PowerOfTwo

SMALL = small_formats()
NEAREST = ("nearest_even", "nearest_away", "toward_zero")


def _ids(f):
    return f.slug


def _probe_points(fmt):
    """Grid values, midpoints, their float32 neighbours, out-of-range and random values."""
    v = np.unique(fmt.decode(fmt.codes()).numpy().astype(np.float64))
    v = v[np.isfinite(v)]
    mids = (v[:-1] + v[1:]) / 2
    pts = np.concatenate([v, mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf),
                          [v.max() * 4, v.min() * 4, 0.0]]).astype(np.float32)
    rng = np.random.default_rng(0)
    rand = rng.uniform(v.min() * 1.1, v.max() * 1.1, 2000).astype(np.float32)
    return np.concatenate([pts, rand])


@pytest.mark.parametrize("fmt", SMALL, ids=_ids)
def test_decode_matches_independent_reference_for_every_code(fmt):
    # every bit pattern, non-canonical zeros and NaN payloads included (pow2 has unused codes)
    codes = fmt.codes() if isinstance(fmt, PowerOfTwo) else torch.arange(0, 1 << fmt.bits)
    if isinstance(fmt, DynamicFixedPoint):
        codes = codes + fmt.min_code
    got = fmt.decode(codes).numpy().astype(np.float64)
    want = np.array([reference_value(fmt, c) for c in codes.tolist()])
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("fmt", SMALL, ids=_ids)
def test_every_code_round_trips(fmt):
    codes = fmt.codes()
    assert torch.equal(fmt.encode(fmt.decode(codes)), codes)


@pytest.mark.parametrize(("fmt", "rounding"), [
    pytest.param(f, r, id=f"{f.slug}-{r}") for f in SMALL for r in NEAREST + ("log",) if r in f.rounding_modes
])
def test_quantize_matches_brute_force_nearest(fmt, rounding):
    x = _probe_points(fmt)
    got = fmt.quantize(x, rounding=rounding).astype(np.float64)
    want = reference_round(fmt, x.astype(np.float64), rounding)
    finite = np.isfinite(got)
    np.testing.assert_array_equal(got[finite], want[finite])
    if getattr(fmt, "inf_nan", False) and rounding != "toward_zero":
        # IEEE overflow: exactly the values at or beyond max + half an ulp become inf
        ulp = fmt.max_value * 2.0 ** -fmt.man_bits / (2 - 2.0 ** -fmt.man_bits)
        assert np.array_equal(~finite, np.abs(x) >= fmt.max_value + ulp / 2)
    else:
        assert finite.all()


@settings(max_examples=150, deadline=None)
@given(fmt=formats(max_bits=16), data=st.data())
def test_invariants_on_random_formats(fmt, data):
    bound = float(np.float32(min(4 * fmt.max_value, 3e38)))
    x = data.draw(arrays(np.float32, st.integers(1, 64),
                         elements=st.floats(-bound, bound, width=32, allow_nan=False)))
    t = torch.from_numpy(x)
    q = fmt.quantize(t)
    assert torch.equal(fmt.decode(fmt.encode(t)), q)
    assert torch.equal(fmt.quantize(q), q)  # idempotent
    order = torch.argsort(t)
    assert bool((q[order][1:] >= q[order][:-1]).all())  # monotone
    finite = torch.isfinite(q)
    inside = finite & (t.abs() <= fmt.max_value)
    if getattr(fmt, "inf_nan", False):
        assert bool((~finite <= (t.abs() > fmt.max_value)).all())
    # error never exceeds half the gap to the neighbour on the other side
    v = np.unique(fmt.decode(fmt.codes()).numpy().astype(np.float64))
    v = v[np.isfinite(v)]
    xs, qs = x.astype(np.float64)[inside.numpy()], q.numpy().astype(np.float64)[inside.numpy()]
    i = np.clip(np.searchsorted(v, xs), 1, len(v) - 1)
    gap = v[i] - v[i - 1]
    assert (np.abs(qs - xs) <= gap / 2).all()


@settings(max_examples=60, deadline=None)
@given(fmt=formats(max_bits=16), seed=st.integers(0, 2**31))
def test_stochastic_rounding_is_reproducible_and_picks_a_neighbour(fmt, seed):
    x = torch.linspace(fmt.min_value, fmt.max_value, 257, dtype=torch.float64).float()
    a = fmt.quantize(x, rounding="stochastic", generator=seed)
    b = fmt.quantize(x, rounding="stochastic", generator=torch.Generator().manual_seed(seed))
    assert torch.equal(a, b)
    v = np.unique(fmt.decode(fmt.codes()).numpy().astype(np.float64))
    v = v[np.isfinite(v)]
    xs = x.numpy().astype(np.float64)
    hi = v[np.clip(np.searchsorted(v, xs, side="left"), 0, len(v) - 1)]
    lo = v[np.clip(np.searchsorted(v, xs, side="right") - 1, 0, len(v) - 1)]
    got = a.numpy().astype(np.float64)
    assert ((got == lo) | (got == hi)).all()


@pytest.mark.parametrize("fmt", [DynamicFixedPoint(8, 4), Minifloat(4, 3), PowerOfTwo(5, -8, 3)], ids=_ids)
def test_stochastic_rounding_is_unbiased(fmt):
    lo, hi = fmt.quantize(torch.tensor([0.30])), None
    vals = np.unique(fmt.decode(fmt.codes()).numpy())
    lo = float(vals[vals <= 0.30].max())
    hi = float(vals[vals > 0.30].min())
    x = torch.full((200_000,), lo + 0.3 * (hi - lo))
    q = fmt.quantize(x, rounding="stochastic", generator=1)
    p_up = float((q == hi).double().mean())
    assert set(torch.unique(q).tolist()) == {lo, hi}
    assert abs(p_up - 0.3) < 0.005  # 5 sigma of a binomial with n = 200k


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_returns_same_container_dtype_and_device(dtype):
    fmt = DynamicFixedPoint(8, 3)
    x = torch.randn(3, 4, 5, dtype=dtype)
    q = fmt.quantize(x)
    assert q.dtype == dtype and q.shape == x.shape and q.device == x.device
    assert torch.equal(q, fmt.quantize(x.double()).to(dtype))
    n = fmt.quantize(x.float().numpy())
    assert isinstance(n, np.ndarray) and n.dtype == np.float32
    c = fmt.encode(x.float().numpy())
    assert isinstance(c, np.ndarray) and c.dtype == np.int64
    d = fmt.decode(c)
    assert isinstance(d, np.ndarray) and d.dtype == np.float32


def test_large_tensors_are_processed_in_chunks_with_the_same_result():
    fmt = Minifloat(4, 3)
    x = torch.randn(300_001) * 50
    whole = torch.cat([fmt.quantize(part) for part in x.split(1000)])
    assert torch.equal(fmt.quantize(x), whole)


def test_inf_saturates_without_ieee_specials():
    for fmt in (DynamicFixedPoint(8, 3), Minifloat(4, 3), PowerOfTwo(4, -8, -1, zero=False)):
        q = fmt.quantize(torch.tensor([math.inf, -math.inf]))
        assert q.tolist() == [fmt.max_value, fmt.min_value]


@pytest.mark.parametrize("fmt", [DynamicFixedPoint(8, 3), Minifloat(4, 3), PowerOfTwo(4, -7, -1)], ids=_ids)
def test_nan_input_is_a_clear_error(fmt):
    with pytest.raises(ValueError, match=r"Input contains NaN, which .* cannot represent; remove it or use"):
        fmt.quantize(torch.tensor([1.0, math.nan]))


def test_container_and_dtype_errors_echo_the_bad_input():
    fmt = DynamicFixedPoint(8, 3)
    with pytest.raises(TypeError, match=r"^Input must be a torch.Tensor or a numpy.ndarray, not list$"):
        fmt.quantize([1.0])
    with pytest.raises(TypeError, match=r"^Input must have a floating-point dtype, not torch.int64; convert"):
        fmt.quantize(torch.tensor([1]))
    with pytest.raises(TypeError, match=r"^Codes must have an integer dtype, not torch.float32$"):
        fmt.decode(torch.tensor([1.0]))
    with pytest.raises(ValueError, match=r"^Code 128 is outside the code space \[-128, 127\] of DynamicFix"):
        fmt.decode(torch.tensor([3, 128]))
    with pytest.raises(ValueError, match=r"^Rounding mode must be one of 'nearest_even', .*, not 'up'$"):
        fmt.quantize(torch.zeros(1), rounding="up")
    with pytest.raises(ValueError, match=r"^Rounding mode must be .*, not 'log'$"):
        fmt.quantize(torch.zeros(1), rounding="log")
    with pytest.raises(TypeError, match=r"^Generator must be None, an int seed or a torch.Generator, not 'x'$"):
        fmt.quantize(torch.zeros(1), rounding="stochastic", generator="x")


@pytest.mark.parametrize("fmt", [DynamicFixedPoint(8, 6), PowerOfTwo(4, -6, 0), Minifloat(4, 3), "mx_int8", "mx_fp4"],
                         ids=str)
def test_a_tensor_that_requires_grad_quantizes_and_encodes_as_its_values_do(fmt):
    """A model's parameter (requires_grad) is quantized as its detached values: quantizing is not differentiable
    (the nn layers pass gradients straight through); DFP's in-place kernels used to raise deep inside torch."""
    from ristretto.formats import MXFormat, named

    fmt = {"mx_int8": MXFormat(DynamicFixedPoint(8, 6)), "mx_fp4": MXFormat(named("float4_e2m1fn"))}.get(fmt, fmt)
    x = torch.randn(3, 40, generator=torch.Generator().manual_seed(0)) * 0.5
    p = torch.nn.Parameter(x.clone())
    q = fmt.quantize(p)
    assert not q.requires_grad and torch.equal(q, fmt.quantize(x))
    enc, ref = fmt.encode(p), fmt.encode(x)
    for a, b in zip(enc if isinstance(enc, tuple) else [enc], ref if isinstance(ref, tuple) else [ref], strict=True):
        assert torch.equal(a, b)
