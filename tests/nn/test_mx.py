"""MX layers: the dot product of ristretto.datapath.mx against an exact rational model, and the layer in both modes."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from ristretto.datapath.mx import mx_dot
from ristretto.formats import DynamicFixedPoint, MXFormat, named
from ristretto.nn import set_mode
from ristretto.nn.convert import quant_layers, wrap_model
from ristretto.nn.layers import LayerFormats
from ristretto.nn.schemes import MX_ELEMENTS, Widths, apply_formats, assign_formats, mx_element_for

ELEMENTS = [named("float4_e2m1fn"), named("float6_e2m3fn"), named("float6_e3m2fn"), named("float8_e4m3fn"),
            DynamicFixedPoint(8, 6)]


def _f32(v):
    """The float32 nearest a rational ``v`` (ties to even; subnormals; beyond the largest: inf), as a Fraction
    (or a float inf), by integer arithmetic only."""
    if v == 0:
        return Fraction(0)
    sign, a = (-1 if v < 0 else 1), abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    e = max(e, -126)  # subnormals share the smallest normal's exponent
    scaled = a / Fraction(2) ** (e - 23)
    m, rem = divmod(scaled.numerator, scaled.denominator)
    if 2 * rem > scaled.denominator or (2 * rem == scaled.denominator and m % 2):
        m += 1
    r = Fraction(m) * Fraction(2) ** (e - 23)
    if r >= Fraction(2) ** 128 - Fraction(2) ** 103:  # rounds beyond the largest float32
        return sign * float("inf")
    return sign * r


def _reference(a_codes, a_scales, w_codes, w_scales, a_fmt, w_fmt, bias):
    """The stated MX dot product in exact rationals: per block exact, one rounding, float32 sums."""
    acc = Fraction(float(np.float32(bias)))
    if any(a_scales == 255) or any(w_scales == 255):
        return float("nan")
    for b in range(a_codes.shape[0]):
        s = sum(Fraction(float(x)) * Fraction(float(y)) for x, y in
                zip(a_fmt.element.decode(torch.tensor(a_codes[b])).double().tolist(),
                    w_fmt.element.decode(torch.tensor(w_codes[b])).double().tolist(), strict=True))
        v = _f32(s * Fraction(2) ** (int(a_scales[b]) - 127) * Fraction(2) ** (int(w_scales[b]) - 127))
        if isinstance(v, float) or isinstance(acc, float):  # an infinity: IEEE from here on (inf - inf is nan)
            acc = float(acc) + float(v)
        else:
            acc = _f32(acc + v)
    return float(acc)


@pytest.mark.parametrize("element", ELEMENTS, ids=lambda e: e.slug)
def test_mx_dot_equals_the_exact_rational_model(element):
    fmt = MXFormat(element, block_size=8)
    rng = np.random.default_rng(0)
    for trial in range(60):
        nb = int(rng.integers(1, 5))
        a = rng.integers(0, 2**element.bits, size=(nb, 8))
        w = rng.integers(0, 2**element.bits, size=(nb, 8))
        if isinstance(element, DynamicFixedPoint):  # two's complement codes as signed integers
            a, w = np.where(a >= 128, a - 256, a), np.where(w >= 128, w - 256, w)
        # scales: the E8M0 extremes (2**-127, 2**127), around 1, and (rarely) NaN
        pick = [0, 1, 126, 127, 128, 200, 253, 254]
        sa = rng.choice(pick, size=nb) if trial % 3 else rng.integers(0, 255, size=nb)
        sw = rng.choice(pick, size=nb) if trial % 3 else rng.integers(0, 255, size=nb)
        if trial == 7:
            sa[-1] = 255
        if trial == 11:
            a[:] = 0  # a zero block: +0 whatever the signs
        bias = float(rng.normal()) if trial % 2 else -0.0
        a_fmt = w_fmt = fmt
        got = mx_dot(torch.tensor(a), torch.tensor(sa), torch.tensor(w), torch.tensor(sw), a_fmt, w_fmt,
                     torch.tensor(bias)).item()
        a_ok = not np.isnan(element.decode(torch.tensor(a)).numpy()).any()
        w_ok = not np.isnan(element.decode(torch.tensor(w)).numpy()).any()
        if not (a_ok and w_ok):
            assert np.isnan(got)
            continue
        want = _reference(a, sa, w, sw, a_fmt, w_fmt, bias)
        if np.isnan(want):
            assert np.isnan(got), (trial, got)
        else:
            assert np.float32(got).tobytes() == np.float32(want).tobytes(), (trial, got, want)


def _layer(conv, element, block):
    net = wrap_model(nn.Sequential(conv))
    layer = next(iter(quant_layers(net).values()))
    layer.formats = LayerFormats(input=MXFormat(element, block), weight=MXFormat(element, block))
    return net, layer


@pytest.mark.parametrize("element", ELEMENTS, ids=lambda e: e.slug)
def test_an_mx_conv_in_exact_mode_is_the_dot_product_of_its_blocks(element):
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=True)
    x = torch.randn(2, 3, 5, 5) * 3
    net, layer = _layer(conv, element, 8)  # K = 27: blocks of 8, 8, 8 and a partial one of 3
    set_mode(net, "exact")
    with torch.no_grad():
        y = net(x)
    fmt = layer.formats.weight
    cols = torch.nn.functional.unfold(torch.nn.functional.pad(x, (1, 1, 1, 1)), 3)  # [N, 27, 25], (c, kh, kw)
    wrows = conv.weight.detach().reshape(4, 27)
    for n in range(2):
        for o in range(4):
            for pos in (0, 7, 24):
                ac, asc = fmt.encode(torch.nn.functional.pad(cols[n, :, pos], (0, 5)).reshape(4, 8), axis=-1)
                wc, wsc = fmt.encode(torch.nn.functional.pad(wrows[o], (0, 5)).reshape(4, 8), axis=-1)
                want = mx_dot(ac, asc[:, 0], wc, wsc[:, 0], fmt, fmt, conv.bias[o].detach()).item()
                got = y[n, o].reshape(-1)[pos].item()
                assert np.float32(got).tobytes() == np.float32(want).tobytes(), (n, o, pos, got, want)
    set_mode(net, "fp32")
    with torch.no_grad():
        y32 = net(x)
    assert torch.allclose(y32, y, rtol=1e-5, atol=1e-5)  # the same products; only the summation differs


def test_the_fp32_mode_passes_gradients_straight_through():
    conv = nn.Conv2d(2, 3, 3)
    net, layer = _layer(conv, named("float4_e2m1fn"), 32)
    x = torch.randn(4, 2, 6, 6, requires_grad=True)
    net(x).square().sum().backward()
    grad = layer.inner.weight.grad  # the wrapped copy's shadow weights
    assert grad is not None and grad.abs().sum() > 0 and x.grad.abs().sum() > 0


def test_the_mx_scheme_assigns_elements_by_name_or_width():
    net = wrap_model(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)))
    stats = {n: {} for n in quant_layers(net)}
    fmts = assign_formats(net, stats, "mx", Widths(4, 6, 8))
    assert fmts["0"].weight == mx_element_for(4) and fmts["2"].weight.element == named("float6_e2m3fn")
    assert fmts["0"].input.element == named("float8_e4m3fn") and fmts["0"].bias is None and fmts["0"].output is None
    fmts = assign_formats(net, stats, "mx", Widths(8, 8, 8), mx_element="int8")
    assert all(f.weight.element == DynamicFixedPoint(8, 6) and f.weight.block_size == 32 for f in fmts.values())
    assert set(MX_ELEMENTS) == {"fp8e4m3", "fp8e5m2", "fp6e3m2", "fp6e2m3", "fp4", "int8"}
    with pytest.raises(ValueError, match="--mx-element must be one of"):
        mx_element_for(8, "fp3")
    apply_formats(net, fmts)
    set_mode(net, "exact")
    with torch.no_grad():
        assert net(torch.randn(2, 1, 6, 6)).shape == (2, 3)


def test_quantize_with_mx_on_a_small_model(tiny_data):
    from ristretto.nn.flow import quantize_network

    model, data = tiny_data
    res = quantize_network(model, data, scheme="mx", mx_element="fp4", mode="exact", log=lambda m: None)
    assert res.widths.to_dict() == {"conv_w": 4, "fc_w": 4, "act": 4}
    assert all(g["weight"]["slug"].startswith("mx") for g in res.layers.values())
    res = quantize_network(model, data, scheme="mx", margin=100.0, log=lambda m: None)  # searched: the narrowest
    assert res.widths.to_dict() == {"conv_w": 4, "fc_w": 4, "act": 4}
    from ristretto.errors import InputError

    with pytest.raises(InputError, match="needs --format mx"):
        quantize_network(model, data, scheme="dfp", mx_element="fp4", log=lambda m: None)


@pytest.fixture
def tiny_data():
    from ristretto.nn.data import Dataset

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    x = torch.randn(120, 1, 8, 8)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, Dataset(x[:80], y[:80], x[80:], y[80:], name="tiny")


def test_quantize_cli_writes_mx_codes_and_scales(tmp_path, tiny_data, monkeypatch):
    from ristretto.nn.flow import quantize_network, write_outputs

    model, data = tiny_data
    res = quantize_network(model, data, scheme="mx", mx_element="fp6e3m2", widths=Widths(6, 6, 6), log=lambda m: None)
    write_outputs(res, tmp_path)
    w = np.load(tmp_path / "weights.npz")
    assert w["0.weight"].shape == (4, 9) and w["0.weight_scale"].shape == (4, 1)
    assert w["3.weight"].shape == (3, 144) and w["3.weight_scale"].shape == (3, 5)  # 144 = 4 blocks of 32 + 16
    import json

    from ristretto.nn.config import load_config

    scheme, widths, formats = load_config(tmp_path / "config.json")
    assert scheme == "mx" and formats["3"].weight == MXFormat(named("float6_e3m2fn"))
    assert json.loads((tmp_path / "summary.json").read_text())["layers"]["3"]["weight"]["slug"].startswith("mx")


def test_an_mx_config_is_refused_by_export_with_the_reason(tiny_data):
    pytest.importorskip("onnx")
    from ristretto.export.graph import ExportError, export_onnx
    from ristretto.nn.flow import quantize_network

    model, data = tiny_data
    res = quantize_network(model, data, scheme="mx", mx_element="fp4", widths=Widths(4, 4, 4), log=lambda m: None)
    with pytest.raises(ExportError, match="MX.*not exported yet"):
        export_onnx(res.net, "qonnx", "/nonexistent/never-written.onnx", data.x_val[:1])


def test_mx_against_dfp_rows_and_e5m2_only_in_fp32_mode(tiny_data):
    from ristretto.nn.experiments import MX_ROWS, mx_vs_dfp

    model, data = tiny_data
    rows = mx_vs_dfp(model, data)
    assert [r["element"] for r in rows] == ["dfp4", "dfp6", "dfp8"] + [e for e, _ in MX_ROWS]
    assert all(0 <= r["top1_fp32"] <= 1 and 0 <= r["top1_exact"] <= 1 for r in rows)
    net, layer = _layer(nn.Conv2d(1, 2, 3), named("float8_e5m2"), 32)
    set_mode(net, "exact")
    with pytest.raises(NotImplementedError, match="need 70 bits: use mode fp32"):
        net(torch.randn(1, 1, 5, 5))
