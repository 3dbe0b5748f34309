"""The compiled one-pass kernels (ristretto.formats._kernels) equal each format's torch code, bit for bit.

The torch code is the reference (run with RISTRETTO_KERNELS=0). Inputs: every value of the format, every
midpoint between neighbours and the float32 values one ulp either side of it, ±0, ±inf, NaN, float32
subnormals and extremes, and float32 bit patterns drawn from every binade. Every minifloat of at most 8 bits
with each IEEE option, and the named formats (OCP FP8/FP6/FP4, float16, bfloat16).
"""

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from ristretto.formats import DynamicFixedPoint, Minifloat, MXFormat, _kernels, named

_SPECIALS = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), float("nan"), -float("nan"), 1e-45, -1e-45,
                          1.1754942e-38, -1.1754944e-38, 3.4028235e38, -3.4028235e38, 1.5, -2.5, 0.75])


def _patterns(n=1 << 15, seed=0):
    """Random float32 bit patterns, uniform over sign, biased exponent (0..255) and mantissa."""
    g = np.random.default_rng(seed)
    bits = (g.integers(0, 2, n) << 31) | (g.integers(0, 256, n) << 23) | g.integers(0, 1 << 23, n)
    return torch.from_numpy(bits.astype(np.uint32).view(np.float32).copy())


def _around(values):
    """Values, midpoints of neighbours, and the float32 values one ulp either side of each."""
    v = torch.unique(values.float())
    v = v[torch.isfinite(v)]
    mids = ((v[1:].double() + v[:-1].double()) / 2).float()
    pts = torch.cat([v, mids])
    up = torch.nextafter(pts, torch.tensor(float("inf")))
    down = torch.nextafter(pts, torch.tensor(-float("inf")))
    return torch.cat([pts, up, down])


def _inputs(fmt):
    grid = fmt.decode(fmt.codes())
    x = torch.cat([_around(grid), _around(grid * 2.0 ** 40), _SPECIALS, _patterns()])
    return x if fmt._propagates_nan else x[~torch.isnan(x)]


def _reference(fmt, x, rounding, monkeypatch):
    with monkeypatch.context() as m:
        m.setenv("RISTRETTO_KERNELS", "0")
        return fmt.quantize(x, rounding=rounding)


def _assert_same(fmt, x, rounding, monkeypatch):
    assert fmt._kernel(rounding) is not None
    got, want = fmt.quantize(x, rounding=rounding), _reference(fmt, x, rounding, monkeypatch)
    same = (got.view(torch.int32) == want.view(torch.int32)) | (torch.isnan(got) & torch.isnan(want))
    if not bool(same.all()):
        i = int((~same).nonzero()[0])
        pytest.fail(f"{fmt!r} {rounding}: x={x[i].item()!r} kernel {got[i].item()!r} torch {want[i].item()!r}")


def _minifloats():
    out = []
    for e in range(1, 8):
        for m in range(0, 8 - e):
            out += [Minifloat(e, m), Minifloat(e, m, subnormals=True), Minifloat(e, m, bias=(1 << (e - 1)) + 2)]
            if e > 1:
                out.append(Minifloat(e, m, bias=(1 << (e - 1)) - 3, subnormals=True))
            if m >= 1 and e >= 2:
                out.append(Minifloat(e, m, subnormals=True, inf_nan=True))
            if not (e == 1 and m == 0):
                out += [Minifloat(e, m, subnormals=True, special="fn"),
                        Minifloat(e, m, subnormals=True, special="fn", saturating=False)]
            out += [Minifloat(e, m, subnormals=True, special="fnuz", bias=1 << (e - 1)),
                    Minifloat(e, m, special="fnuz")]
    return out


MINIFLOATS = _minifloats()


@pytest.mark.parametrize("fmt", MINIFLOATS, ids=lambda f: f.slug)
def test_minifloat_kernel_equals_the_reference(fmt, monkeypatch):
    _assert_same(fmt, _inputs(fmt), "nearest_even", monkeypatch)


@pytest.mark.parametrize("name", ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                                  "float8_e4m3", "float8_e3m4", "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn",
                                  "bfloat16", "float16"])
def test_named_formats_and_wide_mantissas(name, monkeypatch):
    fmt = named(name)
    x = torch.cat([_SPECIALS, _patterns(1 << 17, seed=1), torch.randn(1 << 16)])  # > 2 slices: threads split it
    _assert_same(fmt, x if fmt._propagates_nan else x[~torch.isnan(x)], "nearest_even", monkeypatch)


def test_nan_is_refused_in_the_same_words(monkeypatch):
    x = torch.tensor([1.0, float("nan"), 2.0])
    for fmt in (Minifloat(4, 3), Minifloat(2, 1, subnormals=True)):
        with pytest.raises(ValueError) as got:
            fmt.quantize(x)
        with pytest.raises(ValueError) as want:
            _reference(fmt, x, "nearest_even", monkeypatch)
        assert str(got.value) == str(want.value)
        assert "cannot represent" in str(got.value)


def test_in_place_and_non_contiguous_inputs(monkeypatch):
    fmt = Minifloat(4, 3)
    x = torch.randn(300, 700)
    want = _reference(fmt, x, "nearest_even", monkeypatch)
    assert torch.equal(fmt.quantize(x.t().contiguous()).t(), want)
    assert torch.equal(fmt.quantize(x.t()).t(), want)  # a transposed view
    y = x.clone()
    assert fmt.quantize(y, out=y) is y and torch.equal(y, want)


def _quantize_in_child(queue):
    # numpy in and out: a torch op in a forked child may hang in torch's own OpenMP pool, which is not ours
    x = torch.from_numpy(np.full(1 << 18, 0.3, np.float32))
    out = torch.from_numpy(np.empty(1 << 18, np.float32))
    name, args = Minifloat(4, 3)._kernel("nearest_even")
    _kernels.run(name, x, out, *args)
    queue.put(float(out.numpy().astype(np.float64).sum()))


def test_threads_at_once_get_what_one_gets(monkeypatch):
    fmt = Minifloat(4, 3)
    xs = [torch.randn(1 << 18, generator=torch.Generator().manual_seed(k)) for k in range(6)]
    want = [_reference(fmt, x, "nearest_even", monkeypatch) for x in xs]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(fmt.quantize, xs))
    assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))


def test_a_forked_child_quantizes():
    torch.manual_seed(0)
    Minifloat(4, 3).quantize(torch.randn(1 << 18))  # compiled and run in the parent first
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_quantize_in_child, args=(q,))
    p.start()
    p.join(60)
    if p.exitcode is None:
        p.kill()
    assert p.exitcode == 0, "a forked child hung or failed quantizing"
    assert q.get(timeout=5) == pytest.approx(0.3125 * (1 << 18))


def test_the_kernels_are_installed_and_on():
    """numba is a declared dependency: a set-up that misses it fails here instead of skipping every test."""
    assert _kernels.numba is not None and os.environ.get("RISTRETTO_KERNELS", "1") != "0" and _kernels.available()


ELEMENTS = ["float8_e4m3fn", "float8_e5m2", "float6_e3m2fn", "float6_e2m3fn", "float4_e2m1fn", None]


@pytest.mark.parametrize("element", ELEMENTS, ids=lambda e: e or "int8")
@pytest.mark.parametrize("block", [32, 7])
def test_mx_float32_path_equals_encode_then_decode(element, block):
    fmt = MXFormat(DynamicFixedPoint(8, 6) if element is None else named(element), block)
    torch.manual_seed(0)
    wide = (torch.rand(6, 200) - 0.5) * 2.0 ** torch.randint(-149, 127, (6, 200)).float()
    special = torch.tensor([[0.0, -0.0, 1e-45, -3e-39, float("inf"), 2.0] * 6, [float("nan")] + [1.0] * 35,
                            [-float("inf")] + [1e-30] * 35, [-1e-44] * 36])
    for x in (torch.randn(5, 70, 9), torch.randn(3, 64) * 1e-38, torch.randn(5, 40) * 3e38, wide, special,
              _patterns(1 << 12).reshape(64, 64)):
        for axis in range(x.dim()):
            got = fmt.quantize(x, axis=axis)
            want = fmt.decode(*fmt.encode(x, axis=axis), axis=axis)
            same = (got.view(torch.int32) == want.view(torch.int32)) | (torch.isnan(got) & torch.isnan(want))
            assert bool(same.all()), (fmt.slug, axis, x[~same][:3], got[~same][:3], want[~same][:3])


def test_mx_empty_tensors_quantize_to_empty():
    fmt = MXFormat(named("float8_e4m3fn"))
    for x, axis in ((torch.empty(0, 5), 0), (torch.empty(0, 5), 1), (torch.randn(2, 0, 3), 1),
                    (torch.randn(2, 0, 3), 2)):
        assert fmt.quantize(x, axis=axis).shape == x.shape
