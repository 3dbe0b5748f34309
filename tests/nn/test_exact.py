"""Exact mode equals the MAC reference neuron by neuron; fp32 vs exact disagreement is reported."""

import pytest
import torch
from torch import nn

from ristretto.datapath import MinifloatMacConfig
from ristretto.formats import DynamicFixedPoint, Minifloat, PowerOfTwo
from ristretto.formats.rounding import round_shift
from ristretto.nn.exact import exact_forward, unit_of
from ristretto.nn.layers import LayerFormats, QuantLayer
from ristretto.nn.modes import compare_modes

D = DynamicFixedPoint


def _layer(inner, formats, overflow="wrap", acc_bits="bound"):
    layer = QuantLayer(inner, formats)
    layer.mode, layer.overflow, layer.acc_bits = "exact", overflow, acc_bits
    return layer


@pytest.mark.parametrize("overflow,acc_bits", [("wrap", 32), ("wrap", 16), ("saturate", 16)])
@pytest.mark.parametrize("w", [D(6, 5), PowerOfTwo(4, -8, -1, zero=False)], ids=lambda f: f.slug)
def test_linear_neurons_equal_the_integer_mac(w, overflow, acc_bits):
    torch.manual_seed(0)
    lin = nn.Linear(40, 7)
    layer = _layer(lin, LayerFormats(D(8, 4), w, D(16, 12), D(8, 3)), overflow, acc_bits)
    x = torch.randn(5, 40) * 3
    got = layer.formats.output.encode(exact_forward(layer, x))
    cfg = unit_of(layer)
    assert (cfg.acc_bits, cfg.overflow) == (acc_bits, overflow)
    a, wc = cfg.a.encode(x), cfg.w.encode(lin.weight.detach())
    b = round_shift(layer.formats.bias.encode(lin.bias.detach()), 12 - cfg.accumulator.frac_bits)
    for n in range(5):
        for o in range(7):
            # the bias preloads the accumulator: a product that is exactly the bias comes first
            prods = torch.cat([b[o:o + 1], cfg.products(a[n], wc[o])])
            acc = cfg.accumulate(prods)
            assert int(got[n, o]) == int(cfg.output(acc)), (n, o)


def test_conv_equals_the_mac_on_unfolded_columns():
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 4, 3, padding=1, stride=2, bias=False)
    layer = _layer(conv, LayerFormats(D(8, 5), D(8, 7), None, D(8, 2)), "saturate", 16)
    x = torch.randn(2, 3, 9, 9)
    got = layer.formats.output.encode(exact_forward(layer, x))
    cfg = unit_of(layer)
    cols = nn.functional.unfold(cfg.a.encode(x).double(), 3, padding=1, stride=2).to(torch.int64)  # [N, K, L]
    wc = cfg.w.encode(conv.weight.detach()).reshape(4, -1)
    acc = cfg.accumulate(cfg.products(cols.transpose(1, 2)[:, None], wc[None, :, None]))
    assert torch.equal(got.reshape(2, 4, -1), cfg.output(acc))


def test_minifloat_layer_equals_the_float32_mac():
    torch.manual_seed(2)
    lin = nn.Linear(30, 3, bias=False)
    f = Minifloat(4, 3)
    layer = _layer(lin, LayerFormats(f, f, None, f))
    layer.accumulator = "fp32"
    x = torch.randn(4, 30)
    got = f.encode(exact_forward(layer, x))
    cfg = MinifloatMacConfig(f, f, f)
    a, wc = f.encode(x), f.encode(lin.weight.detach())
    for n in range(4):
        for o in range(3):
            acc = cfg.trace(a[n], wc[o], torch.ones(30), torch.tensor([1] + [0] * 29))[-1]
            assert int(got[n, o]) == int(cfg.output([acc])[0])


def test_mode_disagreement_report_and_errors():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(600, 4))
    layer = QuantLayer(net[0], LayerFormats(D(16, 8), D(16, 14), D(24, 20), D(16, 2)))
    net[0] = layer
    # sums far above 2**24 in integer units: float32 drops bits that exact mode keeps
    report = compare_modes(net, torch.randn(50, 600) * 100)
    assert set(report) == {"0"} and 0 <= report["0"] <= 1
    layer.formats = LayerFormats(D(8, 4), D(8, 4), None, None)
    with pytest.raises(ValueError, match=r"^exact mode needs formats for every group of the layer"):
        exact_forward(layer, torch.zeros(1, 600))
    grouped = QuantLayer(nn.ConvTranspose2d(4, 4, 3, groups=2), LayerFormats(D(8, 4), D(8, 4), D(8, 4), D(8, 4)))
    with pytest.raises(NotImplementedError, match=r"^exact mode supports grouped Conv2d but not grouped ConvT"):
        exact_forward(grouped, torch.zeros(1, 4, 5, 5))


@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
@pytest.mark.parametrize("fmt", [D(6, 5), Minifloat(4, 3)], ids=lambda f: f.slug)
def test_grouped_convolution_equals_fp32_mode_where_sums_are_exact(fmt, overflow):
    """Depthwise and grouped convolutions: small integer sums, so the two modes must agree exactly."""
    torch.manual_seed(5)
    for groups, cin, cout in ((2, 4, 6), (8, 8, 8)):  # grouped, depthwise
        conv = nn.Conv2d(cin, cout, 3, padding=1, groups=groups)
        f = LayerFormats(D(8, 4), D(6, 5), D(12, 9), D(10, 3)) if isinstance(fmt, DynamicFixedPoint) else \
            LayerFormats(fmt, fmt, fmt, fmt)
        layer = _layer(conv, f, overflow, 32 if isinstance(fmt, DynamicFixedPoint) else "bound")
        x = torch.randn(2, cin, 6, 6)
        with torch.no_grad():
            got = exact_forward(layer, x)
            layer.mode = "fp32"
            assert torch.equal(got, layer(x)), (groups, cin, cout)


@pytest.mark.parametrize("kw", [{"stride": 2}, {"stride": 2, "padding": 1, "output_padding": 1},
                                {"stride": 3, "padding": 2, "dilation": 2}, {"stride": 1, "padding": 0}])
def test_transposed_convolution_in_exact_mode(kw):
    """With formats fine enough that nothing rounds, exact mode equals torch's conv_transpose2d."""
    torch.manual_seed(4)
    up = nn.ConvTranspose2d(3, 2, 3, **kw)
    fmt = D(16, 8)
    with torch.no_grad():
        up.weight.copy_(fmt.quantize(up.weight))
        up.bias.copy_(fmt.quantize(up.bias))
    x = D(8, 4).quantize(torch.randn(2, 3, 5, 6))
    layer = _layer(up, LayerFormats(D(8, 4), fmt, fmt, D(24, 12)))
    with torch.no_grad():
        assert torch.equal(exact_forward(layer, x), up(x))
    # coarse formats: the bias (8 fractional bits) sits on the accumulator grid (4 + 5), the sums are small
    # integers, so fp32 mode (float32 conv_transpose2d, then rounding) must agree exactly
    layer.formats = LayerFormats(D(8, 4), D(6, 5), D(12, 8), D(8, 3))
    layer.mode = "fp32"
    with torch.no_grad():
        ref = layer(x)
    assert torch.equal(exact_forward(layer, x), ref)


@pytest.mark.parametrize("fmt", [D(6, 5), Minifloat(4, 3)], ids=lambda f: f.slug)
@pytest.mark.parametrize("kw", [{"padding": 2}, {"padding": "same"}, {"stride": 2, "groups": 2},
                                {"dilation": 2, "padding": "valid"}, {"padding": 1, "groups": 4}])
def test_conv1d_equals_fp32_mode_where_sums_are_exact(fmt, kw):
    """Conv1d (a Conv2d of height 1 for the MAC array): any padding, stride, dilation and groups."""
    torch.manual_seed(7)
    conv = nn.Conv1d(4, 8, 5 if kw.get("padding") == "same" else 3, **kw)
    f = LayerFormats(D(8, 4), D(6, 5), D(12, 9), D(10, 3)) if isinstance(fmt, DynamicFixedPoint) else \
        LayerFormats(fmt, fmt, fmt, fmt)
    layer = _layer(conv, f)
    x = torch.randn(3, 4, 17)
    with torch.no_grad():
        got = exact_forward(layer, x)
        layer.mode = "fp32"
        want = layer(x)
    assert got.shape == want.shape == conv(x).shape
    assert torch.equal(got, want)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own, in fp32 mode
def test_same_padding_conv2d_in_exact_mode():
    torch.manual_seed(8)
    conv = nn.Conv2d(3, 4, (3, 4), padding="same")  # asymmetric: one more zero on the right
    layer = _layer(conv, LayerFormats(D(8, 4), D(6, 5), D(12, 9), D(10, 3)))
    x = torch.randn(2, 3, 7, 9)
    with torch.no_grad():
        got = exact_forward(layer, x)
        layer.mode = "fp32"
        assert torch.equal(got, layer(x))


def _chunked(x, lanes):
    """[K] codes as [ceil(K/lanes), lanes] cycles, zero codes in the unused lanes."""
    pad = (-len(x)) % lanes
    return torch.cat([x, torch.zeros(pad, dtype=x.dtype)]).reshape(-1, lanes)


@pytest.mark.parametrize("lanes", [1, 3, 4, 16])
@pytest.mark.parametrize("accumulator", ["fp32", "exact"])
def test_minifloat_layer_with_lanes_equals_the_units_trace(accumulator, lanes):
    """Exact mode with ``lanes`` equals the N-lane unit's cycle reference, neuron by neuron, bias included."""
    torch.manual_seed(9)
    lin = nn.Linear(37, 4)
    f, fb = Minifloat(4, 3), Minifloat(5, 4)
    layer = _layer(lin, LayerFormats(f, f, fb, f))
    layer.accumulator, layer.lanes = accumulator, lanes
    x = torch.randn(6, 37) * 4
    got = f.encode(exact_forward(layer, x))
    cfg = unit_of(layer)
    assert (cfg.accumulator, cfg.lanes) == (accumulator, lanes)
    from ristretto.datapath import bias_preload
    a, wc, b = f.encode(x), f.encode(lin.weight.detach()), bias_preload(cfg, fb, lin.bias)
    for n in range(6):
        for o in range(4):
            ac, wcy = _chunked(a[n], lanes), _chunked(wc[o], lanes)
            if lanes == 1:
                ac, wcy = ac[:, 0], wcy[:, 0]
            cycles = ac.shape[0]
            acc = cfg.trace(ac, wcy, torch.ones(cycles), torch.tensor([1] + [0] * (cycles - 1)),
                            torch.full((cycles,), int(b[o])))[-1]
            assert int(got[n, o]) == int(cfg.output(torch.tensor([int(acc)]))[0]), (n, o)


@pytest.mark.parametrize("lanes", [1, 5, 16])
def test_saturating_layer_with_lanes_equals_the_units_trace(lanes):
    torch.manual_seed(10)
    lin = nn.Linear(45, 5)
    layer = _layer(lin, LayerFormats(D(8, 4), D(8, 7), D(16, 11), D(8, 3)), "saturate", 16)
    layer.lanes = lanes
    with torch.no_grad():
        lin.weight.copy_(torch.sign(lin.weight) * 0.9)  # products of one sign pile up
    x = torch.randn(4, 45).abs() * 6
    got = layer.formats.output.encode(exact_forward(layer, x))
    cfg = unit_of(layer)
    from ristretto.datapath import bias_preload
    a, wc, b = cfg.a.encode(x), cfg.w.encode(lin.weight.detach()), bias_preload(cfg, layer.formats.bias, lin.bias)
    hits = 0
    for n in range(4):
        for o in range(5):
            ac, wcy = _chunked(a[n], lanes), _chunked(wc[o], lanes)
            cycles = ac.shape[0]
            acc = cfg.trace(ac if lanes > 1 else ac[:, 0], wcy if lanes > 1 else wcy[:, 0], torch.ones(cycles),
                            torch.tensor([1] + [0] * (cycles - 1)), torch.full((cycles,), int(b[o])))
            hits += int(((acc == cfg.accumulator.max_code) | (acc == cfg.accumulator.min_code)).any())
            assert int(got[n, o]) == int(cfg.output(acc[-1:])[0]), (n, o)
    assert hits, "the test must reach saturation"


def test_lanes_change_a_float32_sum_and_auto_picks_the_exact_accumulator():
    torch.manual_seed(11)
    lin = nn.Linear(64, 8, bias=False)
    f = Minifloat(4, 3)
    layer = _layer(lin, LayerFormats(f, f, None, Minifloat(8, 23, bias=128)))  # float32-wide: every rounding shows
    assert unit_of(layer).accumulator == "exact"
    with torch.no_grad():  # operands over 2**-6 .. 2**8: products span 2**28, so float32 sums round
        lin.weight.copy_(torch.randn(8, 64) * 2.0 ** torch.randint(-6, 8, (8, 64)))
    x = torch.randn(32, 64) * 2.0 ** torch.randint(-6, 8, (32, 64))
    exact_sum = exact_forward(layer, x)
    layer.accumulator = "fp32"
    outs = {}
    for lanes in (1, 16):
        layer.lanes = lanes
        outs[lanes] = exact_forward(layer, x)
    assert not torch.equal(outs[1], outs[16])
    assert not torch.equal(outs[1], exact_sum) and not torch.equal(outs[16], exact_sum)


@pytest.mark.parametrize("fmt", [D(8, 4), D(12, 6), Minifloat(4, 3)], ids=lambda f: f.slug)
@pytest.mark.parametrize("kind", ["conv", "conv1d", "transposed", "linear"])
def test_library_sums_equal_the_column_sums(fmt, kind):
    """The fast path (torch's conv/matmul in float32 or float64 on integer operands) equals the plain column sums.

    Sums near float32's 2**24 integer limit (8-bit DFP, fan-in 576) and far above it (12-bit DFP, minifloat).
    """
    from ristretto.nn.exact import integer_terms

    torch.manual_seed(12)
    inner = {"conv": nn.Conv2d(64, 16, 3, padding=1), "conv1d": nn.Conv1d(64, 16, 5, padding=2, stride=2),
             "transposed": nn.ConvTranspose2d(64, 16, 3, stride=2), "linear": nn.Linear(576, 16)}[kind]
    with torch.no_grad():
        inner.weight.copy_(torch.sign(inner.weight) * torch.rand_like(inner.weight))  # large codes, both signs
    out = D(16, 2) if isinstance(fmt, DynamicFixedPoint) else Minifloat(5, 4)
    bias = D(16, 8) if isinstance(fmt, DynamicFixedPoint) else Minifloat(5, 4)
    w_fmt = D(fmt.bits, fmt.bits - 1) if isinstance(fmt, DynamicFixedPoint) else fmt
    layer = _layer(inner, LayerFormats(fmt, w_fmt, bias, out))
    shape = {"conv": (3, 64, 8, 8), "conv1d": (3, 64, 20), "transposed": (3, 64, 5, 5), "linear": (3, 576)}[kind]
    x = torch.rand(shape) * 7.9  # ReLU-like activations near the top of the range
    got = exact_forward(layer, x)
    cfg = unit_of(layer)
    cg, wg, b0, (g, size) = integer_terms(layer, x, cfg)
    acc = torch.einsum("gok,ngkl->ngol", wg, cg).round().to(torch.int64) + b0
    acc = acc.reshape(acc.shape[0], -1, acc.shape[3])
    if isinstance(fmt, DynamicFixedPoint):
        want = out.decode(cfg.output(cfg.accumulator.fit(acc)))
    else:
        want = out.quantize(acc.double() * 2.0**-cfg.product_frac_bits).float()
    assert torch.equal(got.reshape(want.shape[0], want.shape[1], -1), want.reshape(want.shape[0], want.shape[1], -1))
