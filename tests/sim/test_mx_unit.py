"""The MX dot-product unit in cocotb + Icarus, bit for bit against ristretto.datapath.mx (exact mode's model)."""

import importlib

import numpy as np
import pytest
import torch
from ristretto.hw import PRESETS
from ristretto.sim.runner import verify
from torch import nn

from ristretto.datapath.mx import MXMacConfig
from ristretto.formats import DynamicFixedPoint, MXFormat, named

pytestmark = pytest.mark.sim

ELEMENTS = {"fp4": named("float4_e2m1fn"), "fp6e2m3": named("float6_e2m3fn"), "fp6e3m2": named("float6_e3m2fn"),
            "fp8e4m3": named("float8_e4m3fn"), "int8": DynamicFixedPoint(8, 6)}


def _spec(a, w=None, lanes=4, bias=False):
    return {"family": "mx", "a": MXFormat(a, lanes).to_dict(), "w": MXFormat(w or a, lanes).to_dict(), "bias": bias}


@pytest.mark.parametrize("name", ELEMENTS)
def test_every_element_pair_in_every_lane_and_random_blocks_with_extreme_scales(name, tmp_path):
    e = ELEMENTS[name]
    result = verify(_spec(e, bias=name in ("fp6e3m2", "int8")), tmp_path, exhaustive=True, random_vectors=4000)
    assert result["passed"], result.get("first_mismatch")
    assert result["vectors"] == 4 ** e.bits + 4000


def test_mixed_elements_and_the_32_lane_preset(tmp_path):
    result = verify(_spec(ELEMENTS["fp4"], ELEMENTS["fp8e4m3"], lanes=8), tmp_path / "mixed", exhaustive=False,
                    random_vectors=3000)
    assert result["passed"], result.get("first_mismatch")
    result = verify("mxfp4", tmp_path / "mxfp4", exhaustive=True, random_vectors=2000)
    assert result["passed"] and result["vectors"] == 256 + 2000
    assert set(PRESETS) >= {"mxfp8", "mxfp4", "mxint8"}


def test_a_unit_that_truncates_instead_of_rounding_is_caught(tmp_path, monkeypatch):
    mx_mac = importlib.import_module("ristretto.hw.mx_mac")
    real = mx_mac.round_shift_right

    def truncating(m, value, width, amount, max_amount):  # the rounding bit dropped: round toward zero
        r = real(m, value, width, amount, max_amount)
        from amaranth.hdl import Signal

        t = Signal(len(r))
        m.d.comb += t.eq(value >> amount)
        return t

    monkeypatch.setattr(mx_mac, "round_shift_right", truncating)
    result = verify(_spec(ELEMENTS["fp8e4m3"]), tmp_path, exhaustive=False, random_vectors=2000)
    assert not result["passed"] and result["mismatches"] > 0


def test_real_lenet_blocks_run_on_the_unit_as_exact_mode_computes(tmp_path, lenet, mnist):
    """conv2 of the built-in LeNet in MXFP4 (blocks of 32 along its 500-long dot products): the unit fed the
    layer's real blocks ends each dot product on exact mode's output, bit for bit."""
    from ristretto.datapath import f32_bits
    from ristretto.nn import quant_layers, set_mode
    from ristretto.nn.convert import wrap_model
    from ristretto.nn.schemes import Widths, apply_formats, assign_formats

    net = wrap_model(lenet)
    apply_formats(net, assign_formats(net, {n: {} for n in quant_layers(net)}, "mx", Widths(4, 4, 4),
                                      mx_element="fp4"))
    layer = quant_layers(net)["conv2"]
    seen = {}
    layer.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0].detach(), y=out.detach()))
    set_mode(net, "exact")
    with torch.no_grad():
        net(mnist.x_val[:1])
    fmt = layer.formats.weight
    cols = nn.functional.unfold(seen["x"], 5)[0]  # [500, 64], (channel, kernel row, kernel column)
    w = layer.inner.weight.detach().reshape(50, 500)
    rng = np.random.default_rng(0)
    a_c, a_s, w_c, w_s, bias, ends, want = [], [], [], [], [], [], []
    for o, pos in zip(rng.choice(50, 6, replace=False), rng.choice(64, 6, replace=False), strict=True):
        ac, asc = fmt.encode(nn.functional.pad(cols[:, pos], (0, 12)).reshape(16, 32), axis=-1)
        wc, wsc = fmt.encode(nn.functional.pad(w[o], (0, 12)).reshape(16, 32), axis=-1)
        a_c.append(ac.numpy())
        w_c.append(wc.numpy())
        a_s.append(asc[:, 0].numpy())
        w_s.append(wsc[:, 0].numpy())
        bias += [int(f32_bits(layer.inner.bias[o:o + 1].detach().numpy())[0])] * 16
        ends.append(len(bias) - 1)
        want.append(int(f32_bits(seen["y"][0, o].reshape(-1)[pos:pos + 1].numpy())[0]))
    n = len(bias)
    stim = {"a": np.concatenate(a_c), "w": np.concatenate(w_c), "sa": np.concatenate(a_s),
            "sw": np.concatenate(w_s), "valid": np.ones(n, np.int8),
            "clear": np.tile(np.eye(1, 16, dtype=np.int8)[0], 6),
            "bias": np.array(bias, np.int64), "ends": np.array(ends), "network_out": np.array(want, np.int64)}
    result = verify({"family": "mx", "a": fmt.to_dict(), "w": fmt.to_dict(), "bias": True}, tmp_path, stimulus=stim)
    assert result["passed"] and result["network_match"], result.get("first_mismatch")


def test_mx_unit_configs_refuse_what_the_model_cannot_state():
    with pytest.raises(ValueError, match="fp4, fp6, fp8 e4m3 or int8"):
        MXMacConfig(MXFormat(named("float8_e5m2")), MXFormat(named("float8_e5m2")))
    with pytest.raises(ValueError, match="blocks of one size"):
        MXMacConfig(MXFormat(named("float4_e2m1fn"), 8), MXFormat(named("float4_e2m1fn"), 16))


@pytest.mark.parametrize("element", ["fp4", "int8"])
def test_network_traces_of_an_mx_network_match_exact_mode_on_every_layer(tmp_path, lenet, mnist, element):
    """``network_traces`` (what the report powers each unit with) gives an MX layer's real blocks and scales;
    the unit ends every traced dot product on exact mode's float32 output, on every LeNet layer."""
    from ristretto.sim.traces import network_traces

    from ristretto.nn import quant_layers
    from ristretto.nn.convert import wrap_model
    from ristretto.nn.schemes import Widths, apply_formats, assign_formats

    net = wrap_model(lenet)
    apply_formats(net, assign_formats(net, {n: {} for n in quant_layers(net)}, "mx", Widths(8, 8, 8),
                                      mx_element=element))
    traces = network_traces(net, mnist.x_val[:1], channels=1)
    assert [t.layer for t in traces] == ["conv1", "conv2", "fc1", "fc2"]
    for t in traces:
        blocks = -(-quant_layers(net)[t.layer].inner.weight[0].numel() // 32)
        assert t.stimulus["a"].shape[1] == 32 and len(t.stimulus["sa"]) == len(t.stimulus["a"])
        assert len(t.stimulus["ends"]) * blocks == len(t.stimulus["a"])
        result = verify(t.spec, tmp_path / t.layer, stimulus=t.stimulus)
        assert result["passed"] and result["network_match"], (t.layer, result.get("first_mismatch"))
