"""Sized accumulators: bound never overflows, observed covers the data, overflows are counted, not hidden."""

import json

import pytest
import torch
from torch import nn

from ristretto.datapath import int_accumulator_bound, signed_width
from ristretto.errors import InputError
from ristretto.formats import DynamicFixedPoint as D
from ristretto.formats import PowerOfTwo
from ristretto.nn.accumulators import check_policy, observed_maxabs, size_accumulators
from ristretto.nn.convert import set_mode, wrap_model
from ristretto.nn.exact import exact_forward, fan_in
from ristretto.nn.flow import quantize_network, write_outputs
from ristretto.nn.layers import LayerFormats


def test_signed_width():
    assert [signed_width(v) for v in (0, 1, 2, 127, 128, 129)] == [2, 2, 3, 8, 9, 9]


@pytest.mark.parametrize("w", [D(6, 5), PowerOfTwo(4, -8, -1, zero=False), PowerOfTwo(5, -10, 4)],
                         ids=lambda f: f.slug)
def test_the_bound_is_reached_by_the_worst_case(w):
    """Inputs, weights and bias at their extreme codes, all products of one sign: the sum needs the bound's width."""
    a, bias = D(8, 4), D(16, 12)
    layer = wrap_model(nn.Sequential(nn.Linear(37, 1)))[0]
    layer.formats = LayerFormats(a, w, bias, D(8, 0))
    lin = layer.inner
    pow2 = isinstance(w, PowerOfTwo)
    with torch.no_grad():  # pow2: negative products and bias; dfp: positive products and bias
        lin.weight.fill_(w.max_value if pow2 else w.min_value)
        lin.bias.fill_(bias.min_value if pow2 else bias.max_value)
    bound = int_accumulator_bound(a, w, bias, fan_in(layer))
    x = torch.full((1, 37), a.min_value)
    layer.acc_bits = 53
    observed = observed_maxabs(nn.Sequential(layer), [x])["0"]
    assert bound - 8 <= observed <= bound and signed_width(observed) == signed_width(bound)
    if pow2:
        assert observed == bound  # tight: the bound's worst case is reachable
    layer.acc_bits, layer.overflows = signed_width(bound), 0
    exact_forward(layer, x)
    assert layer.overflows == 0
    layer.acc_bits = signed_width(bound) - 1  # one bit less: this sum no longer fits
    exact_forward(layer, x)
    assert layer.overflows == 1


def test_overflows_are_counted_exactly():
    torch.manual_seed(0)
    net = wrap_model(nn.Sequential(nn.Linear(64, 8)))
    with torch.no_grad():
        net[0].inner.weight.uniform_(-0.9, 0.9)
    f = LayerFormats(D(8, 3), D(8, 7), D(16, 10), D(8, 2))
    net[0].formats = f
    x = torch.randn(50, 64) * 8
    sizing = size_accumulators(net, [x], 16)
    assert sizing["0"]["bits"] == 16 and sizing["0"]["bound"] > 16
    cfg_scale = 2.0 ** (3 + 7)
    with torch.no_grad():
        exact = f.input.quantize(x) @ f.weight.quantize(net[0].inner.weight).T + f.bias.quantize(net[0].inner.bias)
    want = int(((exact * cfg_scale).round().abs() > 2**15 - 1).sum())  # exact sums outside 16-bit two's complement
    net[0].overflows = 0
    set_mode(net, "exact")
    with torch.no_grad():
        net(x)
    assert net[0].overflows == want > 0


@pytest.mark.parametrize("bad", ["x", "1", "54", "8.5", True, ""])
def test_policy_errors(bad):
    with pytest.raises(InputError, match=r"^--acc-bits must be bound, observed or an integer in 2\.\.53"):
        check_policy(bad)


def test_an_accumulator_narrower_than_a_product_is_refused():
    net = wrap_model(nn.Sequential(nn.Linear(4, 2)))
    net[0].formats = LayerFormats(D(8, 3), D(8, 7), D(16, 10), D(8, 2))
    with pytest.raises(InputError, match=r"^--acc-bits 12 is narrower than one product of layer 0 \(dfp8f3 x dfp8f7: "
                                         r"16 bits\); use at least 16, bound or observed$"):
        size_accumulators(net, [torch.zeros(1, 4)], 12)


@pytest.mark.parametrize("policy", ["bound", "observed"])
def test_the_flow_reports_sized_accumulators(lenet, mnist, tmp_path, policy):
    from ristretto.nn.schemes import Widths

    res = quantize_network(lenet, mnist, scheme="dfp", widths=Widths(4, 4, 6), mode="exact", acc_bits=policy,
                           log=lambda m: None)
    write_outputs(res, tmp_path)
    layers = json.loads((tmp_path / "summary.json").read_text())["layers"]
    for name, rep in layers.items():
        acc = rep["accumulator"]
        assert set(acc) == {"kind", "bits", "bound", "observed", "overflow", "overflows"} and acc["kind"] == "fixed"
        assert acc["observed"] <= acc["bound"] < 32 and acc["overflows"] == 0 and acc["overflow"] == "wrap"
        assert acc["bits"] == acc[policy] == res.net.get_submodule(name).acc_bits
    assert 100 * (res.baseline_top1 - res.quantized_top1) <= 1.5


def _four_einsums(net, batches):
    """The observed need as first written: positive and negative products summed apart on the unit's columns."""
    from ristretto.nn.accumulators import _fixed_unit
    from ristretto.nn.convert import quant_layers
    from ristretto.nn.exact import integer_terms

    layers = {n: q for n, q in quant_layers(net).items() if _fixed_unit(q) is not None}
    seen = dict.fromkeys(layers, 0)

    def hook(name):
        def record(mod, inp, out):
            cg, wg, b0, _ = integer_terms(mod, inp[0], _fixed_unit(mod))
            e = lambda w, c: torch.einsum("gok,ngkl->ngol", w, c)  # noqa: E731
            pos = e(wg.clamp(min=0), cg.clamp(min=0)) + e(wg.clamp(max=0), cg.clamp(max=0))
            neg = e(wg.clamp(min=0), cg.clamp(max=0)) + e(wg.clamp(max=0), cg.clamp(min=0))
            b = b0.double()
            top = max(float((b + pos).abs().amax()), float((b + neg).abs().amax()), float(b.abs().amax()))
            seen[name] = max(seen[name], int(round(top)))
        return record

    hooks = [q.register_forward_hook(hook(n)) for n, q in layers.items()]
    set_mode(net, "exact")
    try:
        with torch.no_grad():
            for x in batches:
                net(x)
    finally:
        for h in hooks:
            h.remove()
        set_mode(net, "fp32")
    return seen


@pytest.mark.parametrize("scheme", ["dfp", "pow2", "minifloat", "fixed"])
@pytest.mark.parametrize("model", ["mobile", "signal", "transposed"])
def test_observed_need_from_two_convolutions_equals_the_column_sums(scheme, model):
    """Two convolutions (the sum and the sum of magnitudes) give what four einsums on the columns gave: depthwise,
    grouped, strided, 1-D, transposed and linear layers, every fixed-point-summing scheme."""
    from nets import MobileRes, Signal1d

    from ristretto.nn import Widths, apply_formats, assign_formats
    from ristretto.nn.ranges import calibrate

    torch.manual_seed(0)
    if model == "mobile":
        net, x = MobileRes().eval(), torch.randn(6, 1, 12, 12) * 3
    elif model == "signal":
        net, x = Signal1d().eval(), torch.randn(6, 1, 64)
    else:
        net = nn.Sequential(nn.Conv2d(2, 6, 3), nn.ReLU(), nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1,
                                                                            output_padding=1)).eval()
        x = torch.randn(6, 2, 9, 9)
    q = wrap_model(net)
    apply_formats(q, assign_formats(q, calibrate(q, [x]), scheme, Widths(6, 6, 8)))
    got = observed_maxabs(q, [x, -x])
    assert got and got == _four_einsums(q, [x, -x])
    assert all(v > 0 for v in got.values())
